"""The JSON schemas of the admin API's bodies (OpenAPI 3.0 `components.schemas`).

A mail source's settings and state are derived from their declaration
(`connector.resources.mail_source`), as the body reader and the answer are; the answers that
are no editable resource (diagnoses, estimates, the email log) are written here. A test checks
the examples against them and against the API itself.
"""

from __future__ import annotations

from connector.admin.email_log_api import OUTCOMES
from connector.admin.openapi_routing import ROUTING_SCHEMAS
from connector.admin.openapi_settings import SETTINGS_SCHEMAS
from connector.admin.source_actions import ACKNOWLEDGE_ABOVE
from connector.resources.declare import properties, required
from connector.resources.mail_source import BY_NAME, SETTINGS, STATE
from connector.resources.schema import (
    Schema,
    closed_object,
    integer,
    nullable,
    ref,
    string,
    strings,
)
from connector.resources.source_policy import DESCRIPTION as POLICY_DESCRIPTION
from connector.resources.source_policy import SETTINGS as POLICY
from connector.sources.presets import PRESETS

_TIME = nullable(string("ISO 8601, UTC", format="date-time"))

# The presets live with the adapters (`connector.sources.presets`), so their names join here.
_PROVIDER = {**BY_NAME["provider"].property_schema(), "enum": sorted(PRESETS)}
_SETTINGS: Schema = {**properties(SETTINGS, write_only=False), "provider": _PROVIDER}
_STATE = properties(STATE)

_POLICY = closed_object(properties(POLICY), [], POLICY_DESCRIPTION)

_STEP = closed_object(
    {
        "name": string(
            enum=["resolve", "connect", "tls", "authenticate", "folder", "messages", "protocol"]
        ),
        "ok": {"type": "boolean"},
        "detail": string(),
        "error": nullable(string("the server's own words where it said anything")),
        "data": {"type": "object", "additionalProperties": True},
        "elapsed_ms": integer(0),
    },
    ["name", "ok", "detail", "error", "data", "elapsed_ms"],
)

_ESTIMATE = closed_object(
    {
        "messages": integer(0),
        "more": {"type": "boolean", "description": "there are more than counted"},
        "start": string(enum=["now", "since", "resume"]),
        "since": _TIME,
        "acknowledge_above": integer(0, description=f"currently {ACKNOWLEDGE_ABOVE}"),
    },
    ["messages", "more", "start", "since", "acknowledge_above"],
)

_ENTRY: Schema = {
    "id": integer(1),
    "source_id": integer(1),
    "source_name": nullable(string()),
    "message_id": nullable(string()),
    "sender": string(),
    "sender_name": string(),
    "subject": string(),
    "size": integer(0),
    "outcome": string(enum=list(OUTCOMES)),
    "reason": string("why: the rule that ignored it, or the error"),
    "issue_key": nullable(string()),
    "issue_url": nullable(string(format="uri")),
    "attempts": integer(0),
    "received_at": _TIME,
    "updated_at": _TIME,
    "next_attempt_at": nullable(
        string("postponed (Jira unavailable): when the next attempt is due", format="date-time")
    ),
    "failure": nullable(
        string(
            "for a failed message: transient (Jira unavailable until the attempts ran out; "
            "retry) or permanent (refused: fix the cause before retrying)",
            enum=["transient", "permanent"],
        )
    ),
    "route": {"allOf": [ref("Route")], "nullable": True, "description": "null: not routed yet"},
}
_ENTRY_DETAIL: Schema = {
    **_ENTRY,
    "message_key": string("the message's place in its mailbox"),
    "comment_id": nullable(string()),
    "headers": {
        "type": "array",
        "items": closed_object({"name": string(), "value": string()}, ["name", "value"]),
    },
    "trail": strings("the decisions taken, in order"),
    "raw_kept": {"type": "boolean"},
    "retryable": {"type": "boolean"},
    "can_process_anyway": {
        "type": "boolean",
        "description": "ignored (auto-reply, ignored sender...) and kept: POST process-anyway",
    },
}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": string(),
            "field": nullable(string("the input at fault, as the API spells it")),
        },
        "required": ["error", "field"],
        "additionalProperties": True,
    },
    "SourcePolicy": _POLICY,
    **ROUTING_SCHEMAS,
    **SETTINGS_SCHEMAS,
    "SourceSettings": closed_object(
        {**properties(SETTINGS), "provider": _PROVIDER},
        required(SETTINGS),
        "a mail source's settings; PUT replaces them all",
    ),
    "MailSource": closed_object({**_SETTINGS, **_STATE}, [*_SETTINGS, *_STATE]),
    "MailSourceList": closed_object(
        {
            "sources": {"type": "array", "items": ref("MailSource")},
            "jira_paused": ref("JiraPause"),
        },
        ["sources"],
    ),
    "JiraPause": closed_object(
        {
            "until": string(
                "ISO 8601, UTC: nothing is sent to the site before", format="date-time"
            ),
            "reason": string("Jira's RateLimit-Reason, e.g. jira-quota-global-based"),
            "message": string('for people: "Jira asked us to wait until 14:00 UTC"'),
        },
        ["until", "reason", "message"],
        "Jira asked the app to wait (its rate limits); mail is kept until then",
    ),
    "Deleted": closed_object(
        {
            "deleted": {"type": "boolean"},
            "id": integer(1),
            "kept": strings(),
            "removed": strings(),
        },
        ["deleted", "id", "kept", "removed"],
    ),
    "Diagnosis": closed_object(
        {
            "ok": {"type": "boolean"},
            "warnings": strings(),
            "steps": {"type": "array", "items": _STEP},
        },
        ["ok", "warnings", "steps"],
    ),
    "EnableOptions": closed_object(
        {
            "process_existing_since": string(
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
    "Enabled": closed_object(
        {"source": ref("MailSource"), "estimate": ref("Estimate")}, ["source", "estimate"]
    ),
    "Disabled": closed_object({"source": ref("MailSource")}, ["source"]),
    "PollProgress": closed_object(
        {
            "state": string(
                "requested: waiting for a worker to start it; running; idle: the latest poll "
                "has ended (or none ran since the request)",
                enum=["requested", "running", "idle"],
            ),
            "requested_at": _TIME,
            "started_at": _TIME,
            "finished_at": _TIME,
            "fetched": integer(0, description="messages the latest poll took from the mailbox"),
            "processed": integer(0, description="of them, those with a final outcome"),
            "failed": integer(0, description="of them, those that failed (in the email log)"),
            "counts": {
                "type": "object",
                "additionalProperties": integer(0),
                "description": "final outcome -> number of messages, so far",
            },
            "queued": integer(
                0,
                description="of them, those waiting for their delivery: where delivery is "
                "separate work (PostgreSQL), a poll only fetches, and each message's outcome "
                "comes in `counts` once it is delivered",
            ),
            "ok": {
                "type": "boolean",
                "nullable": True,
                "description": "whether the poll could read the mailbox; null until it ended",
            },
            "message": nullable(string("what it did, or the server's words when it failed")),
        },
        [
            "state",
            "requested_at",
            "started_at",
            "finished_at",
            "fetched",
            "processed",
            "failed",
            "counts",
            "queued",
            "ok",
            "message",
        ],
    ),
    "PollStatus": closed_object(
        {"poll": {"allOf": [ref("PollProgress")], "nullable": True}}, ["poll"]
    ),
    "LogEntry": closed_object(_ENTRY, list(_ENTRY)),
    "LogEntryDetail": closed_object(_ENTRY_DETAIL, list(_ENTRY_DETAIL)),
    "BulkRetry": closed_object(
        {"entry_ids": {"type": "array", "items": integer(1), "minItems": 1, "maxItems": 200}},
        ["entry_ids"],
    ),
    "BulkRetryResult": closed_object(
        {
            "retried": {"type": "array", "items": integer(1)},
            "refused": {
                "type": "array",
                "items": closed_object({"id": integer(), "error": string()}, ["id", "error"]),
            },
        },
        ["retried", "refused"],
    ),
    "LogEntryList": closed_object(
        {
            "entries": {"type": "array", "items": ref("LogEntry")},
            "next_before_id": nullable(integer(1)),
        },
        ["entries", "next_before_id"],
    ),
    "OAuthStart": closed_object(
        {
            "provider": string(enum=["google", "microsoft"]),
            "client_id": string("of the tenant's own app registration", minLength=1),
            "client_secret": string(
                "write-only; may be left out to sign in again with the stored app"
            ),
            "tenant": string("Microsoft: directory id or domain (default organizations)"),
            "access": string(
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
            "authorization_url": string(format="uri"),
            "connected": {"type": "boolean"},
        },
        "additionalProperties": False,
    },
    "JiraProjectList": closed_object(
        {
            "projects": {
                "type": "array",
                "items": closed_object(
                    {"id": string(), "key": string(), "name": string()}, ["id", "key", "name"]
                ),
            }
        },
        ["projects"],
    ),
    "JiraUserList": closed_object(
        {
            "users": {
                "type": "array",
                "items": closed_object(
                    {
                        "account_id": string(),
                        "display_name": string(),
                        "email": nullable(string("where the site lets the app see it")),
                    },
                    ["account_id", "display_name", "email"],
                ),
            }
        },
        ["users"],
    ),
    "JiraIssueTypeList": closed_object(
        {
            "project_key": string(),
            "issue_types": {
                "type": "array",
                "items": closed_object(
                    {"id": string(), "name": string(), "subtask": {"type": "boolean"}},
                    ["id", "name", "subtask"],
                ),
            },
        },
        ["project_key", "issue_types"],
    ),
    "Tenant": closed_object(
        {
            "client_key": string(),
            "base_url": string(),
            "display_url": string(),
            "product_type": string(),
            "enabled": {"type": "boolean"},
        },
        ["client_key", "base_url", "display_url", "product_type", "enabled"],
    ),
}
