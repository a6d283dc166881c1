"""The JSON schemas of the tenant settings in the admin API (`components.schemas`): the
custom-field mapping (`settings_api`) and the workaround user (`workaround_api`).

Kept apart from `openapi_schemas` (which includes them) so each file stays about one subject.
"""

from __future__ import annotations

from typing import Any

from connector.storage.tenant_settings import ROLES

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(description: str = "", **more: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **more}


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def _boolean(description: str = "") -> Schema:
    return {"type": "boolean", **({"description": description} if description else {})}


def _object(properties: Schema, required: list[str], description: str = "") -> Schema:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_FIELD_ID = _nullable(_string("a Jira custom field id such as customfield_10001; null: unmapped"))
_MAPPING_PROPERTIES = {role: _FIELD_ID for role in ROLES}

SETTINGS_SCHEMAS: dict[str, Schema] = {
    "FieldMapping": _object(
        _MAPPING_PROPERTIES,
        list(ROLES),
        "role -> custom field: sender_name and sender_address are written for senders "
        "without a Jira account, recipients gets the Cc addresses, language the source's "
        "language",
    ),
    "FieldMappingUpdate": _object(
        {
            "mapping": _object(
                _MAPPING_PROPERTIES,
                [],
                "roles left out become unmapped; each field must be a "
                "short text or paragraph custom field, at most one role per field",
            )
        },
        ["mapping"],
    ),
    "FieldCreate": _object(
        {"role": _string(enum=list(ROLES))},
        ["role"],
        "make a short text custom field in Jira for the role (or reuse one with its name) "
        "and map it; needs the app to hold Administer Jira",
    ),
    "FieldSettings": _object(
        {
            "mapping": _ref("FieldMapping"),
            "roles": {
                "type": "array",
                "items": _object(
                    {
                        "role": _string(enum=list(ROLES)),
                        "label": _string(),
                        "field_id": _nullable(_string()),
                        "field_name": _nullable(_string("null: unmapped, or gone from Jira")),
                        "on_create_screen": _nullable(
                            _boolean(
                                "on the create screen of the project and type asked about, "
                                "else of every enabled source's; null: unmapped or unknown"
                            )
                        ),
                    },
                    ["role", "label", "field_id", "field_name", "on_create_screen"],
                ),
            },
            "custom_fields": {
                "type": "array",
                "items": _object(
                    {
                        "id": _string(),
                        "name": _string(),
                        "type": _string("Jira's schema type, e.g. string, number, option"),
                        "custom_type": _string("e.g. textfield, textarea, float, select"),
                        "holds_text": _boolean("may be mapped to a role"),
                    },
                    ["id", "name", "type", "custom_type", "holds_text"],
                ),
            },
            "can_create_fields": _boolean("the app may create custom fields in Jira"),
        },
        ["mapping", "roles", "custom_fields", "can_create_fields"],
    ),
    "WorkaroundUser": _object(
        {"email": _nullable(_string(format="email")), "has_token": _boolean()},
        ["email", "has_token"],
        "the account that finds Jira users by address; its API token is never answered",
    ),
    "WorkaroundUserUpdate": _object(
        {
            "email": _string("the Atlassian account's email", format="email"),
            "api_token": _string("write-only; left out: keep the stored one", minLength=1),
        },
        ["email"],
    ),
    "WorkaroundTest": _object(
        {
            "project_key": _string(
                "default: each enabled source's project", pattern="^[A-Z][A-Z0-9_]{0,31}$"
            ),
            "lookup": _string("an address to find; default: the account's own", format="email"),
        },
        [],
    ),
    "WorkaroundTestResult": _object(
        {
            "ok": _boolean("every step passed"),
            "steps": {
                "type": "array",
                "items": _object(
                    {
                        "name": _string(enum=["authenticate", "browse_users", "project"]),
                        "ok": _boolean(),
                        "detail": _string(),
                    },
                    ["name", "ok", "detail"],
                ),
            },
        },
        ["ok", "steps"],
    ),
}
