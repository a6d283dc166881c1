"""What a Jira field can hold, and the source-policy checks built on it."""

from __future__ import annotations

from typing import Any

import pytest

from connector.admin.source_checks import check_policy_fields
from connector.jira.dialect import CLOUD, DATA_CENTER
from connector.jira.fields import holds_text, index_fields, is_rich_text, type_label, value_problem
from connector.mail_source import FieldMapping, SourcePolicy
from connector.sources.errors import SourceConfigError

PREFIX = "com.atlassian.jira.plugin.system.customfieldtypes:"


def _custom(field_id: str, name: str, schema_type: str, custom: str) -> dict[str, Any]:
    return {
        "id": field_id,
        "name": name,
        "custom": True,
        "schema": {"type": schema_type, "custom": PREFIX + custom},
    }


FIELDS = index_fields(
    [
        {
            "id": "summary",
            "name": "Summary",
            "custom": False,
            "schema": {"type": "string", "system": "summary"},
        },
        {
            "id": "duedate",
            "name": "Due date",
            "custom": False,
            "schema": {"type": "date", "system": "duedate"},
        },
        _custom("customfield_1", "Sender", "string", "textfield"),
        _custom("customfield_2", "Notes", "string", "textarea"),
        _custom("customfield_3", "Ticket count", "number", "float"),
        _custom("customfield_4", "Severity", "option", "select"),
        _custom("customfield_5", "Homepage", "string", "url"),
        _custom("customfield_6", "Owner", "user", "userpicker"),
    ]
)


def test_fields_text_kinds_short_text_and_paragraph_hold_text() -> None:
    assert holds_text(FIELDS["customfield_1"]) and not is_rich_text(FIELDS["customfield_1"])
    assert holds_text(FIELDS["customfield_2"]) and is_rich_text(FIELDS["customfield_2"])
    assert not holds_text(FIELDS["customfield_3"])
    assert not holds_text(FIELDS["customfield_5"])  # a URL field refuses a name
    assert type_label(FIELDS["customfield_3"]) == "a number field"
    assert type_label(FIELDS["duedate"]) == "a system field of type date"


@pytest.mark.parametrize(
    ("field_id", "value", "problem"),
    [
        ("customfield_1", 5, "needs a string"),
        ("customfield_3", "five", "needs a number"),
        ("customfield_3", True, "needs a number"),
        ("customfield_4", "High", 'needs an object such as {"value": "..."} or {"id": "..."}'),
        ("duedate", "12/01/2025", "needs a date as YYYY-MM-DD"),
    ],
)
def test_fields_value_of_wrong_shape_has_problem(field_id: str, value: Any, problem: str) -> None:
    assert value_problem(FIELDS[field_id], value) == problem


@pytest.mark.parametrize(
    ("field_id", "value"),
    [
        ("customfield_1", "text"),
        ("customfield_2", "text for a paragraph"),
        ("customfield_3", 2.5),
        ("customfield_4", {"value": "High"}),
        ("duedate", "2025-12-01"),
    ],
)
def test_fields_value_of_right_shape_has_none(field_id: str, value: Any) -> None:
    assert value_problem(FIELDS[field_id], value) is None


def test_policy_check_text_mapped_into_number_field_names_both() -> None:
    policy = SourcePolicy(field_mappings=(FieldMapping("header:X-Ticket", "customfield_3"),))
    with pytest.raises(SourceConfigError) as raised:
        check_policy_fields(policy, FIELDS)
    assert raised.value.field == "field_mappings"
    assert "header:X-Ticket is text" in raised.value.problem
    assert "customfield_3 (Ticket count) is a number field" in raised.value.problem


def test_policy_check_unknown_field_refused() -> None:
    policy = SourcePolicy(field_defaults={"customfield_99": "x"})
    with pytest.raises(SourceConfigError, match="Jira has no field customfield_99"):
        check_policy_fields(policy, FIELDS)


def test_policy_check_default_of_wrong_type_refused() -> None:
    policy = SourcePolicy(field_defaults={"customfield_4": "High"})
    with pytest.raises(SourceConfigError) as raised:
        check_policy_fields(policy, FIELDS)
    assert raised.value.field == "field_defaults"
    assert "customfield_4 (Severity) is a select list" in raised.value.problem


def test_policy_check_good_mappings_and_defaults_pass() -> None:
    policy = SourcePolicy(
        field_mappings=(
            FieldMapping("sender", "customfield_1"),
            FieldMapping("subject", "customfield_2"),
        ),
        field_defaults={"customfield_3": 1, "customfield_4": {"value": "High"}},
    )
    check_policy_fields(policy, FIELDS)


@pytest.mark.parametrize("tag", ["en", "de-CH", "zh-Hant-TW", "es-419", "sl-rozaj"])
def test_policy_language_bcp47_tag_accepted(tag: str) -> None:
    assert SourcePolicy(language=tag).language == tag


@pytest.mark.parametrize("tag", ["english", "de_CH", "en-", "e", "de-CH-", "en US"])
def test_policy_language_not_bcp47_refused_naming_field(tag: str) -> None:
    with pytest.raises(SourceConfigError) as raised:
        SourcePolicy(language=tag)
    assert raised.value.field == "language"
    assert "BCP 47" in raised.value.problem


def test_policy_language_empty_reads_as_none() -> None:
    assert SourcePolicy(language="").language is None


ADF = {"type": "doc", "version": 1, "content": []}


@pytest.mark.parametrize(
    ("field_id", "value", "cloud", "datacenter"),
    [
        ("customfield_6", {"accountId": "5b10a2"}, None, 'needs an object such as {"name": "..."}'),
        ("customfield_6", {"name": "jsmith"}, 'needs an object such as {"accountId": "..."}', None),
        ("customfield_2", ADF, None, "needs text"),
        ("customfield_2", "plain text", None, None),
    ],
)  # fmt: skip
def test_fields_value_shape_follows_the_sites_rest_api(
    field_id: str, value: Any, cloud: str | None, datacenter: str | None
) -> None:
    """Jira Cloud takes users by accountId and paragraphs as ADF; Data Center users by name
    and paragraphs as wiki text only."""
    assert value_problem(FIELDS[field_id], value, CLOUD) == cloud
    assert value_problem(FIELDS[field_id], value, DATA_CENTER) == datacenter
