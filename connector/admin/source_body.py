"""A mail source as the admin API receives it: JSON object -> `SourceSpec`, or 400 naming a field.

Types are checked here, one field at a time, against the declaration
(`connector.resources.mail_source`), so `"port": "993"` is refused as `port` instead of failing
somewhere deeper; the rules about values (ranges, folders, what POP3 can do) are
`SourceSpec`'s and `SourceConfig`'s, whose errors already name their field. A provider preset
fills host, port and security when the body leaves them out, as a mail client's account wizard
does; the admin can still override any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.admin.errors import ApiError
from connector.mail_source import SourcePolicy, SourceSpec
from connector.resources.declare import Setting, names, required
from connector.resources.mail_source import BY_NAME, STATE
from connector.resources.mail_source import SETTINGS as SOURCE_SETTINGS
from connector.resources.source_policy import BY_NAME as POLICY_BY_NAME
from connector.routing.addresses import AddressRule, RuleError, rules_from_json
from connector.sources.errors import SourceConfigError
from connector.sources.presets import default_port, get_preset

SETTINGS = frozenset(names(SOURCE_SETTINGS))
READ_ONLY = frozenset(names(STATE))


def spec_from_json(body: Mapping[str, Any]) -> SourceSpec:
    """The settings in `body`, validated; raises `ApiError` 400 with the field at fault."""
    for name in body:
        if name in READ_ONLY:
            hint = " (use the enable and disable actions)" if name == "enabled" else ""
            raise ApiError(400, f"{name}: is read-only{hint}", field=name)
        if name not in SETTINGS:
            raise ApiError(400, f"{name}: is not a mail source setting", field=name)
    values = {name: _typed(BY_NAME[name], value) for name, value in body.items()}
    for name in required(SOURCE_SETTINGS):
        if values.get(name) is None:
            raise ApiError(400, f"{name}: is required", field=name)
    try:
        _fill_connection_defaults(values)
        if "policy" in values:
            values["policy"] = _policy(values["policy"])
        if values.get("address_rules") is not None:
            values["address_rules"] = address_rules(values["address_rules"])
        values = {name: value for name, value in values.items() if value is not None}
        return SourceSpec(**values)
    except SourceConfigError as exc:
        raise ApiError.invalid(exc) from exc


def _fill_connection_defaults(values: dict[str, Any]) -> None:
    """Protocol IMAP, then host, port and security from the provider's preset."""
    values.setdefault("protocol", "imap")
    provider = values.setdefault("provider", "custom")
    preset = get_preset(provider)
    protocol = values["protocol"]
    endpoint = preset.endpoint(protocol) if protocol in ("imap", "pop3", "graph") else None
    if endpoint is not None:
        for name in ("host", "port", "security"):
            if values.get(name) is None:
                values[name] = getattr(endpoint, name)
    elif preset.key != "custom" and protocol in ("imap", "pop3", "graph"):
        raise SourceConfigError("protocol", f"{preset.name} does not offer {protocol}")
    if values.get("host") is None:
        raise SourceConfigError("host", "is required for a custom server")
    if values.get("security") is None:
        values["security"] = "ssl"
    if values.get("port") is None and protocol in ("imap", "pop3", "graph"):
        values["port"] = default_port(protocol, values["security"])
    if protocol == "pop3" and values.get("after_processing") is None:
        # POP3 can only delete what it processed (RFC 1939); reading it again is tracked by UIDL.
        values["after_processing"] = "delete"
    if values.get("port") is None:
        raise SourceConfigError("port", "is required")


def address_rules(value: Any) -> tuple[AddressRule, ...]:
    """Rules from JSON; a rule's `defaults` are policy settings, type-checked as `policy`'s."""
    try:
        rules = rules_from_json(value)
    except RuleError as exc:
        raise SourceConfigError(exc.field, exc.problem) from None
    for index, rule in enumerate(rules):
        try:
            for name, item in rule.defaults.items():
                _check_policy_type(name, item)
        except SourceConfigError as exc:
            raise SourceConfigError(
                f"address_rules[{index}].defaults.{exc.field}", exc.problem
            ) from exc
    return rules


def _policy(value: Mapping[str, Any]) -> SourcePolicy:
    """`SourcePolicy.from_json` after a type check per setting; errors name `policy.<name>`."""
    try:
        for name, item in value.items():
            _check_policy_type(name, item)
        return SourcePolicy.from_json(value)
    except SourceConfigError as exc:
        field = exc.field if exc.field == "policy" else f"policy.{exc.field}"
        raise SourceConfigError(field, exc.problem) from exc


_MAPPINGS = 'a list of {"source": ..., "field_id": ...} objects'


def _check_policy_type(name: str, value: Any) -> None:
    setting = POLICY_BY_NAME.get(name)
    if setting is None:
        return  # from_json names unknown settings itself
    if name == "field_mappings":
        if not (
            isinstance(value, list)
            and all(
                isinstance(item, dict)
                and set(item) == {"source", "field_id"}
                and all(isinstance(part, str) for part in item.values())
                for item in value
            )
        ):
            raise SourceConfigError(name, f"must be {_MAPPINGS}")
        return
    problem = setting.type_problem(value)
    if problem is not None:
        raise SourceConfigError(name, problem)


def _typed(setting: Setting, value: Any) -> Any:
    """`value` if it has the JSON type the setting needs, else a 400 naming the field."""
    problem = setting.type_problem(value)
    if problem is not None:
        raise ApiError(400, f"{setting.name}: {problem}", field=setting.name)
    return tuple(value) if setting.kind == "strings" else value
