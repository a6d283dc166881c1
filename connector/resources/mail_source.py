"""The mail source, declared once: its settings, in the order a form shows them, and its state.

The admin API reads a body against `SETTINGS` (`connector.admin.source_body`) and answers
with `SETTINGS` and `STATE` (`connector.admin.serialize`); the repository copies the settings
kept in columns of their own (`connector.storage.sources`); the OpenAPI document describes
both (`connector.admin.openapi_schemas`); the typed values (`connector.sources.SourceConfig`,
`connector.mail_source.SourceSpec`) take their choices and bounds from here. The provider
presets live with the adapters, so the document adds their names to `provider` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from connector.resources.address_rule import MAX_ROUTED_RECIPIENTS, MAX_RULES, RECIPIENT_HEADERS
from connector.resources.declare import PROJECT_KEY_PATTERN, Setting
from connector.resources.schema import Schema, ref

ProtocolName = Literal["imap", "pop3", "graph"]
Security = Literal["ssl", "starttls", "none"]
AfterProcessing = Literal["mark_read", "delete", "move"]
Unmatched = Literal["create", "ignore"]
Unrouted = Literal["source", "ignore"]  # mail no address rule matches

DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024
_PROJECT_KEY: Schema = {"type": "string", "pattern": PROJECT_KEY_PATTERN}

# Address routing (`connector.pipeline.routes`): also what the route check takes to try
# edited rules.
ROUTING: tuple[Setting, ...] = (
    Setting(
        "address_rules",
        "array",
        storage="json",
        schema={
            "type": "array",
            "maxItems": MAX_RULES,
            "items": ref("AddressRule"),
            "description": "first match wins; recipients are read from "
            + ", ".join(RECIPIENT_HEADERS)
            + f" in that order, the first {MAX_ROUTED_RECIPIENTS} of them tried against the "
            "rules",
        },
    ),
    Setting(
        "plus_projects",
        "strings",
        storage="json",
        schema={
            "type": "array",
            "items": _PROJECT_KEY,
            "description": "projects a local+KEY@domain address of ours may name (an allow-list)",
        },
    ),
    Setting(
        "unrouted",
        "string",
        "mail no address rule matches: the source's own project, or ignored (replies to "
        "known threads are commented either way)",
        choices=get_args(Unrouted),
    ),
)

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "name", "string", "shown in lists and logs", required=True, min_length=1, max_length=120
    ),
    Setting("description", "string", max_length=1000),
    Setting("protocol", "string", "default imap", choices=get_args(ProtocolName)),
    Setting(
        "provider", "string", "a preset filling host, port and security when they are left out"
    ),
    Setting("host", "string", "required for provider custom"),
    Setting(
        "port",
        "integer",
        "default: from the preset, or the protocol's port",
        minimum=1,
        maximum=65535,
    ),
    Setting("security", "string", choices=get_args(Security)),
    Setting("verify_tls", "boolean", "off only for self-signed servers"),
    Setting("username", "string", required=True, min_length=1),
    Setting("folder", "string", "sub-folders as Parent/Child; POP3 reads only INBOX"),
    Setting("interval_minutes", "integer", minimum=1, maximum=60),
    Setting(
        "push",
        "boolean",
        "be told about new mail: IMAP IDLE when the server allows, Microsoft Graph change "
        "notifications when BASE_URL is public; polling continues as a safety net",
    ),
    Setting("timeout_seconds", "integer", minimum=1, maximum=60),
    Setting(
        "after_processing",
        "string",
        "POP3 can only delete (its default)",
        choices=get_args(AfterProcessing),
    ),
    Setting(
        "success_folder",
        "string",
        "where processed mail goes (after_processing move)",
        nullable=True,
    ),
    Setting(
        "failure_folder", "string", "where mail that failed or is too large goes", nullable=True
    ),
    Setting("exclusion_folders", "strings", "never read, nor their sub-folders", storage="json"),
    Setting("max_message_bytes", "integer", minimum=1, maximum=1024**3),
    Setting("project_key", "string", required=True, pattern=PROJECT_KEY_PATTERN),
    Setting("issue_type", "string", required=True, min_length=1),
    Setting("unmatched", "string", "what mail that is no reply does", choices=get_args(Unmatched)),
    Setting("policy", "object", storage="json", schema=ref("SourcePolicy")),
    *ROUTING,
    Setting(
        "password",
        "string",
        "write-only; left out: keep the stored one",
        nullable=True,
        write_only=True,
        storage="secret",
    ),
)

# What the API answers about a source but does not take back: state is changed by actions.
STATE: tuple[Setting, ...] = (
    Setting("id", "integer", minimum=1),
    Setting("has_password", "boolean", storage="none"),
    Setting("uses_oauth", "boolean", storage="none"),
    Setting("enabled", "boolean"),
    Setting("status", "string", choices=("ok", "error", "disabled", "unknown")),
    Setting("status_message", "string", "the last poll's error, in the server's words"),
    Setting("status_at", "string", "ISO 8601, UTC", format="date-time", nullable=True),
    Setting("last_poll_at", "string", "ISO 8601, UTC", format="date-time", nullable=True),
    Setting("next_poll_at", "string", "ISO 8601, UTC", format="date-time", nullable=True),
    Setting("first_connected_at", "string", "ISO 8601, UTC", format="date-time", nullable=True),
    Setting(
        "messages_today",
        "integer",
        "email log entries since 00:00 today in the time zone asked for (tz; default UTC)",
        minimum=0,
        storage="none",
    ),
    Setting(
        "failed_messages",
        "integer",
        "email log entries of the source that failed and were not retried since",
        minimum=0,
        storage="none",
    ),
    Setting("warnings", "strings", "e.g. certificate checks are off", storage="none"),
    Setting(
        "receives",
        "string",
        "how mail arrives now: push (IMAP IDLE), push (Graph notifications), or polling and "
        "why, as the worker last said",
        storage="none",
    ),
    Setting(
        "poll",
        "object",
        storage="none",
        schema={
            "allOf": [ref("PollProgress")],
            "nullable": True,
            "description": "the latest poll, or one asked for; null: never polled",
        },
    ),
    Setting("created_at", "string", "ISO 8601, UTC", format="date-time", nullable=True),
    Setting("updated_at", "string", "ISO 8601, UTC", format="date-time", nullable=True),
)

BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}
