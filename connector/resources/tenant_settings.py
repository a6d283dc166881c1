"""A site's settings, declared once: the custom-field roles and the workaround user.

Each role a custom field can play is declared here with what the admin page calls it and the
field `settings/fields/create` makes for it; the stored mapping (`connector.storage`), the
field API (`connector.admin.settings_api`) and the OpenAPI document take the roles from here.
The workaround user's body is declared as settings; its API token is write-only.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.resources.declare import Setting


@dataclass(frozen=True)
class FieldRole:
    """`paragraph`: the field `create` makes is a paragraph, not a short text field."""

    name: str
    label: str
    new_field_name: str
    paragraph: bool = False


# In the order the admin page lists them.
FIELD_ROLES: tuple[FieldRole, ...] = (
    FieldRole("sender_name", "Sender name", "Email sender name"),
    FieldRole("sender_address", "Sender address", "Email sender address"),
    # Jira Cloud keeps at most 255 characters in a short text field: a Cc list of a dozen
    # addresses is longer, so recipients get a paragraph field (no such limit).
    FieldRole("recipients", "Recipients (Cc)", "Email recipients", paragraph=True),
    FieldRole("language", "Language", "Email language"),
)
ROLES = tuple(role.name for role in FIELD_ROLES)

MAX_TOKEN_CHARS = 1024
WORKAROUND_USER: tuple[Setting, ...] = (
    Setting("email", "string", "the Atlassian account's email", required=True, format="email"),
    Setting(
        "api_token",
        "string",
        "write-only; left out: keep the stored one",
        min_length=1,
        write_only=True,
        storage="secret",
    ),
)
