"""The JSON schemas of the admin API's bodies (OpenAPI 3.0 `components.schemas`).

Written by hand next to the code that reads and writes these bodies (`source_body`,
`serialize`); a test checks the examples against them and against the API itself.
"""

from __future__ import annotations

from typing import Any

from connector.admin.email_log_api import OUTCOMES
from connector.admin.openapi_routing import ROUTING_SCHEMAS, ROUTING_SETTINGS
from connector.admin.openapi_settings import SETTINGS_SCHEMAS
from connector.admin.source_actions import ACKNOWLEDGE_ABOVE
from connector.sources.presets import PRESETS

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(description: str = "", **more: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **more}


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def _integer(minimum: int | None = None, maximum: int | None = None, **more: Any) -> Schema:
    bounds = {"minimum": minimum, "maximum": maximum}
    return {"type": "integer", **{k: v for k, v in bounds.items() if v is not None}, **more}


def _strings(description: str = "") -> Schema:
    return {"type": "array", "items": {"type": "string"}, "description": description}


def _object(properties: Schema, required: list[str], description: str = "") -> Schema:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_TIME = _nullable(_string("ISO 8601, UTC", format="date-time"))

_SETTINGS: Schema = {
    "name": _string("shown in lists and logs", minLength=1, maxLength=120),
    "description": _string(maxLength=1000),
    "protocol": _string("default imap", enum=["imap", "pop3", "graph"]),
    "provider": _string(
        "a preset filling host, port and security when they are left out",
        enum=sorted(PRESETS),
    ),
    "host": _string("required for provider custom"),
    "port": _integer(1, 65535, description="default: from the preset, or the protocol's port"),
    "security": _string(enum=["ssl", "starttls", "none"]),
    "verify_tls": {"type": "boolean", "description": "off only for self-signed servers"},
    "username": _string(minLength=1),
    "folder": _string("sub-folders as Parent/Child; POP3 reads only INBOX"),
    "interval_minutes": _integer(1, 60),
    "timeout_seconds": _integer(1, 60),
    "after_processing": _string(
        "POP3 can only delete (its default)", enum=["mark_read", "delete", "move"]
    ),
    "success_folder": _nullable(_string("where processed mail goes (after_processing move)")),
    "failure_folder": _nullable(_string("where mail that failed or is too large goes")),
    "exclusion_folders": _strings("never read, nor their sub-folders"),
    "max_message_bytes": _integer(1, 1024**3),
    "project_key": _string(pattern="^[A-Z][A-Z0-9_]{0,31}$"),
    "issue_type": _string(minLength=1),
    "unmatched": _string("what mail that is no reply does", enum=["create", "ignore"]),
    "policy": ref("SourcePolicy"),
    **ROUTING_SETTINGS,
}

_POLICY: Schema = _object(
    {
        "subject_projects": _strings("project keys matched in subjects; empty: the source's"),
        "comment_issue_types": _strings("issue types that take mail comments; empty: all"),
        "ignored_senders": _strings("addresses or fragments such as @spam.example"),
        "allowed_domains": _strings("empty: every domain"),
        "drop_automatic": {"type": "boolean"},
        "rate_limit_per_hour": _integer(0, 10000, description="per sender; 0 turns it off"),
        "default_reporter": _nullable(_string("account id")),
        "default_assignee": _nullable(_string("account id")),
        "labels": _strings(),
        "priority": _nullable(_string()),
        "language": _nullable(
            _string(
                "BCP 47 tag (en, de-CH) written to the custom field mapped to the language role"
            )
        ),
        "skip_images_below_bytes": _integer(0),
        "field_defaults": {"type": "object", "additionalProperties": True},
        "field_mappings": {
            "type": "array",
            "items": _object(
                {
                    "source": _string(
                        "sender, sender_name, recipients, cc, subject, header:<Name> or body:<Key>"
                    ),
                    "field_id": _string(),
                },
                ["source", "field_id"],
            ),
        },
        "jsm_customers": {
            "type": "boolean",
            "description": "service projects: make a sender without a Jira account a customer "
            "and Cc'd people request participants",
        },
    },
    [],
    "how the pipeline treats this source's mail; settings left out take their defaults",
)

_STATE: Schema = {
    "id": _integer(1),
    "has_password": {"type": "boolean"},
    "uses_oauth": {"type": "boolean"},
    "enabled": {"type": "boolean"},
    "status": _string(enum=["ok", "error", "disabled", "unknown"]),
    "status_message": _string("the last poll's error, in the server's words"),
    "status_at": _TIME,
    "last_poll_at": _TIME,
    "next_poll_at": _TIME,
    "first_connected_at": _TIME,
    "messages_today": _integer(0, description="email log entries since 00:00 UTC"),
    "warnings": _strings("e.g. certificate checks are off"),
    "created_at": _TIME,
    "updated_at": _TIME,
}

_STEP = _object(
    {
        "name": _string(
            enum=["resolve", "connect", "tls", "authenticate", "folder", "messages", "protocol"]
        ),
        "ok": {"type": "boolean"},
        "detail": _string(),
        "error": _nullable(_string("the server's own words where it said anything")),
        "data": {"type": "object", "additionalProperties": True},
        "elapsed_ms": _integer(0),
    },
    ["name", "ok", "detail", "error", "data", "elapsed_ms"],
)

_ESTIMATE = _object(
    {
        "messages": _integer(0),
        "more": {"type": "boolean", "description": "there are more than counted"},
        "start": _string(enum=["now", "since", "resume"]),
        "since": _TIME,
        "acknowledge_above": _integer(0, description=f"currently {ACKNOWLEDGE_ABOVE}"),
    },
    ["messages", "more", "start", "since", "acknowledge_above"],
)

_ENTRY: Schema = {
    "id": _integer(1),
    "source_id": _integer(1),
    "source_name": _nullable(_string()),
    "message_id": _nullable(_string()),
    "sender": _string(),
    "sender_name": _string(),
    "subject": _string(),
    "size": _integer(0),
    "outcome": _string(enum=list(OUTCOMES)),
    "reason": _string("why: the rule that ignored it, or the error"),
    "issue_key": _nullable(_string()),
    "issue_url": _nullable(_string(format="uri")),
    "attempts": _integer(0),
    "received_at": _TIME,
    "updated_at": _TIME,
    "route": {"allOf": [ref("Route")], "nullable": True, "description": "null: not routed yet"},
}
_ENTRY_DETAIL: Schema = {
    **_ENTRY,
    "message_key": _string("the message's place in its mailbox"),
    "comment_id": _nullable(_string()),
    "next_attempt_at": _TIME,
    "headers": {
        "type": "array",
        "items": _object({"name": _string(), "value": _string()}, ["name", "value"]),
    },
    "trail": _strings("the decisions taken, in order"),
    "raw_kept": {"type": "boolean"},
    "retryable": {"type": "boolean"},
}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": _string(),
            "field": _nullable(_string("the input at fault, as the API spells it")),
        },
        "required": ["error", "field"],
        "additionalProperties": True,
    },
    "SourcePolicy": _POLICY,
    **ROUTING_SCHEMAS,
    **SETTINGS_SCHEMAS,
    "SourceSettings": _object(
        {**_SETTINGS, "password": _nullable(_string("write-only; left out: keep the stored one"))},
        ["name", "username", "project_key", "issue_type"],
        "a mail source's settings; PUT replaces them all",
    ),
    "MailSource": _object({**_SETTINGS, **_STATE}, [*_SETTINGS, *_STATE]),
    "MailSourceList": _object(
        {"sources": {"type": "array", "items": ref("MailSource")}}, ["sources"]
    ),
    "Deleted": _object(
        {
            "deleted": {"type": "boolean"},
            "id": _integer(1),
            "kept": _strings(),
            "removed": _strings(),
        },
        ["deleted", "id", "kept", "removed"],
    ),
    "Diagnosis": _object(
        {
            "ok": {"type": "boolean"},
            "warnings": _strings(),
            "steps": {"type": "array", "items": _STEP},
        },
        ["ok", "warnings", "steps"],
    ),
    "EnableOptions": _object(
        {
            "process_existing_since": _string(
                "also process mail from this day (ISO date) on", format="date"
            ),
            "acknowledge": {"type": "boolean", "description": "needed above the threshold"},
            "skip_existing": {
                "type": "boolean",
                "description": "start at the current end, skipping mail that arrived while "
                "the source was disabled",
            },
        },
        [],
    ),
    "Estimate": _ESTIMATE,
    "Enabled": _object(
        {"source": ref("MailSource"), "estimate": ref("Estimate")}, ["source", "estimate"]
    ),
    "Disabled": _object({"source": ref("MailSource")}, ["source"]),
    "PollResult": _object(
        {
            "ok": {"type": "boolean"},
            "message": _string(),
            "counts": {
                "type": "object",
                "additionalProperties": _integer(0),
                "description": "outcome -> number of messages",
            },
        },
        ["ok", "message", "counts"],
    ),
    "LogEntry": _object(_ENTRY, list(_ENTRY)),
    "LogEntryDetail": _object(_ENTRY_DETAIL, list(_ENTRY_DETAIL)),
    "LogEntryList": _object(
        {
            "entries": {"type": "array", "items": ref("LogEntry")},
            "next_before_id": _nullable(_integer(1)),
        },
        ["entries", "next_before_id"],
    ),
    "OAuthStart": _object(
        {
            "provider": _string(enum=["google", "microsoft"]),
            "client_id": _string("of the tenant's own app registration", minLength=1),
            "client_secret": _string(
                "write-only; may be left out to sign in again with the stored app"
            ),
            "tenant": _string("Microsoft: directory id or domain (default organizations)"),
            "access": _string(
                "delegated: an admin signs in; application: Microsoft client credentials",
                enum=["delegated", "application"],
            ),
        },
        ["provider", "client_id"],
        "the app at Google or Microsoft that reads the mailbox; stored encrypted, never answered",
    ),
    "OAuthStarted": {
        "type": "object",
        "description": "delegated: open authorization_url (it comes back to /oauth/callback, "
        "valid 10 minutes, once); application: connected at once",
        "properties": {
            "authorization_url": _string(format="uri"),
            "connected": {"type": "boolean"},
        },
        "additionalProperties": False,
    },
    "JiraProjectList": _object(
        {
            "projects": {
                "type": "array",
                "items": _object(
                    {"id": _string(), "key": _string(), "name": _string()}, ["id", "key", "name"]
                ),
            }
        },
        ["projects"],
    ),
    "JiraIssueTypeList": _object(
        {
            "project_key": _string(),
            "issue_types": {
                "type": "array",
                "items": _object(
                    {"id": _string(), "name": _string(), "subtask": {"type": "boolean"}},
                    ["id", "name", "subtask"],
                ),
            },
        },
        ["project_key", "issue_types"],
    ),
    "Tenant": _object(
        {
            "client_key": _string(),
            "base_url": _string(),
            "display_url": _string(),
            "product_type": _string(),
            "enabled": {"type": "boolean"},
        },
        ["client_key", "base_url", "display_url", "product_type", "enabled"],
    ),
}
