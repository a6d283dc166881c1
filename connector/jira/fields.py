"""What a Jira field can hold, read from its schema in `GET /rest/api/3/field`.

Used to refuse, when an admin saves a setting, a value Jira would refuse on every issue
created from mail: text mapped into a number field, a default that is not a date, an unknown
field id. REST v3 takes paragraph (textarea) fields, like the description, as Atlassian
Document Format, so text written there must be wrapped (`is_rich_text`)
(developer.atlassian.com/cloud/jira/platform/rest/v3/intro/#version).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from connector.jira.dialect import CLOUD, JiraDialect

_CUSTOM_TYPE_PREFIX = "com.atlassian.jira.plugin.system.customfieldtypes:"
_RICH_TEXT_SYSTEM = frozenset({"description", "environment"})
_PLAIN_TEXT_SYSTEM = frozenset({"summary"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Custom field types (the part after the prefix) as an admin knows them from Jira's screens.
_TYPE_LABELS = {
    "textfield": "a short text field",
    "textarea": "a paragraph (multi-line text) field",
    "url": "a URL field",
    "float": "a number field",
    "datepicker": "a date field",
    "datetime": "a date-time field",
    "select": "a select list",
    "multiselect": "a multi-select list",
    "radiobuttons": "a radio-button field",
    "multicheckboxes": "a checkbox field",
    "userpicker": "a user picker",
    "multiuserpicker": "a multi-user picker",
    "labels": "a labels field",
    "cascadingselect": "a cascading select list",
}

FieldIndex = Mapping[str, Mapping[str, Any]]


def index_fields(fields: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Jira's field list by id."""
    return {str(f.get("id")): f for f in fields if f.get("id")}


def custom_type(field: Mapping[str, Any]) -> str:
    """`textfield`, `float`, ...; "" for system fields."""
    schema = field.get("schema") or {}
    return str(schema.get("custom") or "").removeprefix(_CUSTOM_TYPE_PREFIX)


def _system(field: Mapping[str, Any]) -> str:
    return str((field.get("schema") or {}).get("system") or "")


def is_rich_text(field: Mapping[str, Any]) -> bool:
    return custom_type(field) == "textarea" or _system(field) in _RICH_TEXT_SYSTEM


def holds_text(field: Mapping[str, Any]) -> bool:
    """Can any text from a message (a name, addresses, a header) go into this field?"""
    if is_rich_text(field):
        return True
    return custom_type(field) == "textfield" or _system(field) in _PLAIN_TEXT_SYSTEM


def describe(field: Mapping[str, Any]) -> str:
    """`customfield_10031 (Ticket count)`: how messages name a field."""
    return f"{field.get('id')} ({field.get('name')})"


def type_label(field: Mapping[str, Any]) -> str:
    kind = custom_type(field)
    if kind:
        return _TYPE_LABELS.get(kind, f"a {kind} field")
    schema_type = str((field.get("schema") or {}).get("type") or "unknown")
    return f"a system field of type {schema_type}"


def value_problem(field: Mapping[str, Any], value: Any, dialect: JiraDialect = CLOUD) -> str | None:
    """Why Jira would refuse `value` for this field on create, or None.

    Checks the JSON shape the site's REST API expects per schema type (Cloud's v3, or Data
    Center's v2: users by `name`, paragraphs as text); it cannot know select options or
    whether an account may be picked, which Jira checks itself."""
    schema = field.get("schema") or {}
    schema_type = str(schema.get("type") or "")
    if value is None:
        return None
    if is_rich_text(field):
        if not dialect.takes_adf:
            return None if isinstance(value, str) else "needs text"
        ok = isinstance(value, str) or (isinstance(value, dict) and value.get("type") == "doc")
        return None if ok else "needs text (or an ADF document)"
    if schema_type == "string":
        return None if isinstance(value, str) else "needs a string"
    if schema_type == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "needs a number"
    if schema_type == "date":
        ok = isinstance(value, str) and bool(_DATE.match(value))
        return None if ok else "needs a date as YYYY-MM-DD"
    if schema_type == "datetime":
        return None if isinstance(value, str) else "needs a date-time string (ISO 8601)"
    if schema_type in ("option", "priority", "version", "component", "resolution"):
        ok = isinstance(value, dict) and any(k in value for k in ("id", "value", "name"))
        return None if ok else 'needs an object such as {"value": "..."} or {"id": "..."}'
    if schema_type == "user":
        keys = dialect.user_value_keys
        ok = isinstance(value, dict) and any(k in value for k in keys)
        return None if ok else f'needs an object such as {{"{keys[0]}": "..."}}'
    if schema_type == "array":
        return None if isinstance(value, list) else "needs a list"
    return None
