"""Each admin-editable resource is declared once (`connector.resources`): what is derived from
a declaration follows it, and what is still written beside it (the table, the typed values,
the form's list of settings) is held to it here, so drift fails a test."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Text

from connector.mail_source import SourcePolicy, SourceSpec
from connector.outbound_config import ConnectionSpec, NotificationSettings
from connector.resources import notification_settings, outbound_connection, source_policy
from connector.resources.address_rule import RULE_KINDS
from connector.resources.declare import Setting, names, properties, required, stored_as
from connector.resources.mail_source import BY_NAME, SETTINGS, STATE
from connector.sources.config import MailboxSettings, SourceConfig
from connector.storage.models import MailSourceRow, NotificationSettingsRow, OutboundConnectionRow

ROOT = Path(__file__).resolve().parents[2]


def _column(name: str, row: Any = MailSourceRow) -> Any:
    table = row.__table__
    assert name in table.columns, f"{table.name} has no column {name}"
    return table.columns[name]


def _check_columns(declared: tuple[Setting, ...], row: Any) -> None:
    """Each setting kept in a column has one (of the declared length); JSON settings are
    text columns; a secret is kept encrypted beside its name."""
    for setting in declared:
        if setting.storage == "column":
            column = _column(setting.name, row)
            if setting.max_length is not None:
                assert column.type.length == setting.max_length, setting.name
        elif setting.storage == "json":
            assert isinstance(_column(setting.name, row).type, Text), setting.name
        elif setting.storage == "secret":
            _column(f"{setting.name}_encrypted", row)


def test_mail_source_table_has_a_column_for_each_stored_setting() -> None:
    _check_columns((*SETTINGS, *STATE), MailSourceRow)


def test_mail_source_table_defaults_equal_the_typed_defaults() -> None:
    defaults = {f.name: f.default for f in fields(SourceSpec) if f.default is not MISSING}
    for name in stored_as(SETTINGS, "column"):
        column = MailSourceRow.model_fields[name]
        if name in defaults and not column.is_required():
            assert column.default == defaults[name], name


def test_source_spec_fields_are_the_declared_settings() -> None:
    typed = {f.name for f in fields(SourceSpec)} - {"uses_oauth"}  # state, from the OAuth store
    assert typed == set(names(SETTINGS))


def test_outbound_connection_table_and_spec_follow_the_declaration() -> None:
    declared = outbound_connection.SETTINGS
    _check_columns(declared, OutboundConnectionRow)
    spec_defaults = {f.name: f.default for f in fields(ConnectionSpec)}
    assert tuple(spec_defaults) == names(declared, write_only=False)
    for name, default in spec_defaults.items():
        assert OutboundConnectionRow.model_fields[name].default == default, name


def test_notification_settings_table_and_answer_follow_the_declaration() -> None:
    declared = notification_settings.SETTINGS
    _check_columns(declared, NotificationSettingsRow)
    assert tuple(NotificationSettings().to_json()) == names(declared)


def test_source_policy_fields_are_the_declared_settings() -> None:
    assert tuple(f.name for f in fields(SourcePolicy)) == names(source_policy.SETTINGS)


def test_source_config_shares_the_mailbox_settings_with_the_spec() -> None:
    mailbox = {f.name for f in fields(MailboxSettings)}
    assert mailbox <= {f.name for f in fields(SourceConfig)}
    assert mailbox <= set(names(SETTINGS))


def test_source_form_sends_back_the_declared_settings_in_order() -> None:
    script = (ROOT / "connector/admin/static/source-form.js").read_text(encoding="utf-8")
    found = re.search(r"const SETTINGS = \[(.*?)\];", script, re.S)
    assert found is not None
    assert tuple(re.findall(r'"(\w+)"', found.group(1))) == names(SETTINGS, write_only=False)


def _script(name: str) -> str:
    return (ROOT / "connector/admin/static" / name).read_text(encoding="utf-8")


def test_source_form_choices_and_bounds_are_declared_ones() -> None:
    script = _script("source-form.js")
    selects = re.findall(r'select\(\s*"(\w+)",\s*\[((?:\["\w+", "[^"]*"\],?\s*)+)\]', script)
    assert {name for name, _ in selects} >= {"protocol", "security", "after_processing"}
    for name, options in selects:
        offered = set(re.findall(r'\["(\w+)",', options))
        declared = BY_NAME.get(name) or source_policy.BY_NAME[name]  # a policy setting
        assert offered and offered <= set(declared.choices), name
    bounded = re.findall(r'text\("(\w+)",[^\n{]*\{[^}\n]*min: (\d+), max: (\d+)', script)
    assert {name for name, _, _ in bounded} >= {"port", "interval_minutes"}
    for name, low, high in bounded:
        assert (int(low), int(high)) == BY_NAME[name].bounds(), name


def test_outbound_pages_send_declared_settings() -> None:
    connection = _script("outbound-connection.js")
    sent = re.search(r"for \(const name of \[(.*?)\]\)", connection)
    assert sent is not None
    assert set(re.findall(r'"(\w+)"', sent.group(1))) <= set(names(outbound_connection.SETTINGS))
    events = re.search(r"const EVENTS = \[(.*?)\];", _script("notification-settings.js"))
    assert events is not None
    offered = re.findall(r'\["(\w+)",', events.group(1))
    assert tuple(offered) == notification_settings.EVENTS


def test_address_rule_page_offers_the_declared_kinds() -> None:
    kinds = re.search(r"const KINDS = \[(.*?)\];", _script("address-rules.js"), re.S)
    assert kinds is not None
    assert tuple(re.findall(r'\["(\w+)",', kinds.group(1))) == RULE_KINDS


def test_declared_schema_follows_bounds_choices_and_null() -> None:
    port = Setting("port", "integer", "the port", minimum=1, maximum=65535)
    folder = Setting("folder", "string", nullable=True, choices=("a", "b"))
    assert port.property_schema() == {
        "type": "integer",
        "minimum": 1,
        "maximum": 65535,
        "description": "the port",
    }
    assert folder.property_schema() == {"type": "string", "enum": ["a", "b"], "nullable": True}
    assert list(properties([port, folder])) == ["port", "folder"]
    assert required([port, Setting("name", "string", required=True)]) == ["name"]


def test_write_only_settings_are_left_out_of_answers() -> None:
    assert "password" in names(SETTINGS)
    assert "password" not in names(SETTINGS, write_only=False)
    assert "password" not in properties(SETTINGS, write_only=False)


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        (Setting("port", "integer"), True, "must be a whole number"),
        (Setting("port", "integer"), "993", "must be a whole number"),
        (Setting("name", "string"), None, "must be a string"),
        (Setting("folder", "string", nullable=True), 3, "must be a string or null"),
        (Setting("verify_tls", "boolean"), "yes", "must be true or false"),
        (Setting("folders", "strings"), ["a", 1], "must be a list of strings"),
        (Setting("policy", "object"), [], "must be an object"),
    ],
)
def test_type_problem_names_the_json_type_wanted(
    setting: Setting, value: object, problem: str
) -> None:
    assert setting.type_problem(value) == problem


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (Setting("port", "integer"), 993),
        (Setting("folder", "string", nullable=True), None),
        (Setting("folders", "strings"), ["a"]),
        (Setting("rules", "array"), [{"pattern": 1}]),  # checked by its own reader
    ],
)
def test_type_problem_none_for_the_right_type(setting: Setting, value: object) -> None:
    assert setting.type_problem(value) is None


def test_structured_setting_without_schema_refused() -> None:
    with pytest.raises(ValueError, match="rules"):
        Setting("rules", "array").property_schema()
