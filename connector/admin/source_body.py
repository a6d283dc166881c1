"""A mail source as the admin API receives it: JSON object -> `SourceSpec`, or 400 naming a field.

Types are checked here, one field at a time, so `"port": "993"` is refused as `port` instead of
failing somewhere deeper; the rules about values (ranges, folders, what POP3 can do) are
`SourceSpec`'s and `SourceConfig`'s, whose errors already name their field. A provider preset
fills host, port and security when the body leaves them out, as a mail client's account wizard
does; the admin can still override any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any

from connector.admin.errors import ApiError
from connector.mail_source import SourcePolicy, SourceSpec
from connector.routing.addresses import AddressRule, RuleError, rules_from_json
from connector.sources.errors import SourceConfigError
from connector.sources.presets import default_port, get_preset

_STRING: tuple[str, ...] = ("name", "description", "protocol", "provider", "host", "username")
_STRING += ("security", "folder", "after_processing", "project_key", "issue_type", "unmatched")
_STRING += ("unrouted",)
_OPTIONAL_STRING = ("password", "success_folder", "failure_folder")
_INTEGER = ("port", "interval_minutes", "timeout_seconds", "max_message_bytes")
_BOOLEAN = ("verify_tls",)
_STRING_LIST = ("exclusion_folders", "plus_projects")
_OBJECT = ("policy",)
_RULES = ("address_rules",)  # a list of rule objects, checked by `rules_from_json`
SETTINGS = frozenset(
    _STRING + _OPTIONAL_STRING + _INTEGER + _BOOLEAN + _STRING_LIST + _OBJECT + _RULES
)
REQUIRED = ("name", "username", "project_key", "issue_type")

# What the API answers about a source but does not take back: state is changed by actions.
READ_ONLY = frozenset(
    {
        "id",
        "enabled",
        "has_password",
        "uses_oauth",
        "status",
        "status_message",
        "status_at",
        "last_poll_at",
        "next_poll_at",
        "first_connected_at",
        "messages_today",
        "warnings",
        "created_at",
        "updated_at",
    }
)


def spec_from_json(body: Mapping[str, Any]) -> SourceSpec:
    """The settings in `body`, validated; raises `ApiError` 400 with the field at fault."""
    for name in body:
        if name in READ_ONLY:
            hint = " (use the enable and disable actions)" if name == "enabled" else ""
            raise ApiError(400, f"{name}: is read-only{hint}", field=name)
        if name not in SETTINGS:
            raise ApiError(400, f"{name}: is not a mail source setting", field=name)
    values = {name: _typed(name, value) for name, value in body.items()}
    for name in REQUIRED:
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


def _check_policy_type(name: str, value: Any) -> None:
    setting = _POLICY_FIELDS.get(name)
    if setting is None:
        return  # from_json names unknown settings itself
    default = setting.default if setting.default is not MISSING else None
    if name == "field_mappings":
        ok = isinstance(value, list) and all(
            isinstance(item, dict)
            and set(item) == {"source", "field_id"}
            and all(isinstance(part, str) for part in item.values())
            for item in value
        )
        wanted = 'a list of {"source": ..., "field_id": ...} objects'
    elif setting.default_factory is not MISSING:
        ok, wanted = isinstance(value, dict), "an object"
    elif isinstance(default, tuple):
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        wanted = "a list of strings"
    elif isinstance(default, bool):
        ok, wanted = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        wanted = "a whole number"
    else:
        ok, wanted = value is None or isinstance(value, str), "a string or null"
    if not ok:
        raise SourceConfigError(name, f"must be {wanted}")


_POLICY_FIELDS = {setting.name: setting for setting in fields(SourcePolicy)}


def _typed(name: str, value: Any) -> Any:
    """`value` if it has the JSON type `name` needs, else a 400 naming the field."""
    if name in _OPTIONAL_STRING:
        if value is None or isinstance(value, str):
            return value
        raise ApiError(400, f"{name}: must be a string or null", field=name)
    if name in _STRING:
        if isinstance(value, str):
            return value
        raise ApiError(400, f"{name}: must be a string", field=name)
    if name in _INTEGER:
        # JSON true is not a port number, though Python calls bool an int.
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ApiError(400, f"{name}: must be a whole number", field=name)
    if name in _BOOLEAN:
        if isinstance(value, bool):
            return value
        raise ApiError(400, f"{name}: must be true or false", field=name)
    if name in _STRING_LIST:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise ApiError(400, f"{name}: must be a list of strings", field=name)
    if name in _RULES:
        return value
    if isinstance(value, dict):
        return value
    raise ApiError(400, f"{name}: must be an object", field=name)
