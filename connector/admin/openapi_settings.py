"""The JSON schemas of the tenant settings in the admin API (`components.schemas`): the
custom-field mapping (`settings_api`) and the workaround user (`workaround_api`).

Kept apart from `openapi_schemas` (which includes them) so each file stays about one subject.
"""

from __future__ import annotations

from connector.resources.declare import PROJECT_KEY_PATTERN, properties, required
from connector.resources.schema import Schema, boolean, closed_object, nullable, ref, string
from connector.resources.tenant_settings import ROLES, WORKAROUND_USER
from connector.tenant import TENANT_KINDS

_FIELD_ID = nullable(string("a Jira custom field id such as customfield_10001; null: unmapped"))
_MAPPING_PROPERTIES = {role: _FIELD_ID for role in ROLES}

SETTINGS_SCHEMAS: dict[str, Schema] = {
    "FieldMapping": closed_object(
        _MAPPING_PROPERTIES,
        list(ROLES),
        "role -> custom field: sender_name and sender_address are written for senders "
        "without a Jira account, recipients gets the Cc addresses, language the source's "
        "language",
    ),
    "FieldMappingUpdate": closed_object(
        {
            "mapping": closed_object(
                _MAPPING_PROPERTIES,
                [],
                "roles left out become unmapped; each field must be a "
                "short text or paragraph custom field, at most one role per field",
            )
        },
        ["mapping"],
    ),
    "FieldCreate": closed_object(
        {"role": string(enum=list(ROLES))},
        ["role"],
        "make a short text custom field in Jira for the role (or reuse one with its name) "
        "and map it; needs the app to hold Administer Jira",
    ),
    "FieldSettings": closed_object(
        {
            "mapping": ref("FieldMapping"),
            "roles": {
                "type": "array",
                "items": closed_object(
                    {
                        "role": string(enum=list(ROLES)),
                        "label": string(),
                        "field_id": nullable(string()),
                        "field_name": nullable(string("null: unmapped, or gone from Jira")),
                        "on_create_screen": nullable(
                            boolean(
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
                "items": closed_object(
                    {
                        "id": string(),
                        "name": string(),
                        "type": string("Jira's schema type, e.g. string, number, option"),
                        "custom_type": string("e.g. textfield, textarea, float, select"),
                        "holds_text": boolean("may be mapped to a role"),
                    },
                    ["id", "name", "type", "custom_type", "holds_text"],
                ),
            },
            "can_create_fields": boolean("the app may create custom fields in Jira"),
        },
        ["mapping", "roles", "custom_fields", "can_create_fields"],
    ),
    "WorkaroundUser": closed_object(
        {
            "email": nullable(string(format="email")),
            "has_token": boolean(),
            "site_kind": string(
                "how the site is reached: an installed Connect or Forge app, a Jira Cloud "
                "API token, or a Jira Data Center personal access token",
                enum=list(TENANT_KINDS),
            ),
            "applies": boolean(
                "whether the site uses a workaround user; false for Jira Data Center, whose "
                "token's account looks up users itself (saving one is refused with 409)"
            ),
        },
        ["email", "has_token", "site_kind", "applies"],
        "the account that finds Jira users by address; its API token is never answered",
    ),
    "WorkaroundUserUpdate": closed_object(properties(WORKAROUND_USER), required(WORKAROUND_USER)),
    "WorkaroundTest": closed_object(
        {
            "project_key": string(
                "default: each enabled source's project", pattern=PROJECT_KEY_PATTERN
            ),
            "lookup": string("an address to find; default: the account's own", format="email"),
        },
        [],
    ),
    "WorkaroundTestResult": closed_object(
        {
            "ok": boolean("every step passed"),
            "steps": {
                "type": "array",
                "items": closed_object(
                    {
                        "name": string(enum=["authenticate", "browse_users", "project"]),
                        "ok": boolean(),
                        "detail": string(),
                    },
                    ["name", "ok", "detail"],
                ),
            },
        },
        ["ok", "steps"],
    ),
}
