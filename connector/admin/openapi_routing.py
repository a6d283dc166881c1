"""The JSON schemas of address routing in the admin API (`components.schemas`): the rules edited
with a source, the route check, the route kept in the email log, and a project's feeds.

Kept apart from `openapi_schemas` (which includes them) so each file stays about one subject.
"""

from __future__ import annotations

from connector.resources.address_rule import RULE_KINDS
from connector.resources.address_rule import SETTINGS as RULE_SETTINGS
from connector.resources.declare import PROJECT_KEY_PATTERN, properties, required
from connector.resources.mail_source import ROUTING
from connector.resources.schema import (
    Schema,
    boolean,
    closed_object,
    integer,
    nullable,
    ref,
    string,
)
from connector.routing.addresses import (
    RECIPIENT_HEADERS,
)

_KEY = string(pattern=PROJECT_KEY_PATTERN)
_KEYS: Schema = {"type": "array", "items": _KEY}
_HEADER = string(enum=list(RECIPIENT_HEADERS))

_ROUTE_ALSO = closed_object(
    {
        "project_key": _KEY,
        "address": string(),
        "header": _HEADER,
        "rule_index": nullable(integer(0, description="null: a plus address")),
    },
    ["project_key", "address", "header", "rule_index"],
)

_ADDRESS = closed_object({"address": string(), "name": string()}, ["address", "name"])
_TEXT = closed_object(
    {
        "text": string("as Jira shows it to agents"),
        "quote_found": boolean("the quoted earlier mail was left out"),
        "signature_found": boolean("the signature was left out"),
        "truncated": boolean("cut to Jira's limit; the full text would be attached"),
    },
    ["text", "quote_found", "signature_found", "truncated"],
)
_AGENTS_VIEW = closed_object(
    {
        "classification": closed_object({"kind": string(), "reason": string()}, ["kind", "reason"]),
        "reply": _TEXT,
        "description": _TEXT,
        "to": {"type": "array", "items": _ADDRESS},
        "cc": {"type": "array", "items": _ADDRESS},
        "attachments": {
            "type": "array",
            "items": closed_object(
                {
                    "filename": string(),
                    "content_type": string(),
                    "size": integer(0),
                    "inline": boolean(""),
                },
                ["filename", "content_type", "size", "inline"],
            ),
        },
    },
    ["classification", "reply", "description", "to", "cc", "attachments"],
    "what agents would read: a comment's text (reply), a new issue's description",
)

ROUTING_SCHEMAS: dict[str, Schema] = {
    "AddressRule": closed_object(properties(RULE_SETTINGS), required(RULE_SETTINGS)),
    "Route": closed_object(
        {
            "decided_by": string(enum=["plus", "rule", "source", "ignore"]),
            "project_key": nullable(_KEY),
            "issue_type": nullable(string()),
            "header": nullable(_HEADER),
            "address": nullable(string()),
            "rule_index": nullable(integer(0, description="into the source's address_rules")),
            "reason": string(),
            "subject_projects": _KEYS,
            "also": {
                "type": "array",
                "items": _ROUTE_ALSO,
                "description": "other projects the mail was also addressed to",
            },
            "notes": {"type": "array", "items": string()},
        },
        [
            "decided_by",
            "project_key",
            "issue_type",
            "header",
            "address",
            "rule_index",
            "reason",
            "subject_projects",
            "also",
            "notes",
        ],
        "which header and rule decided where a message goes",
    ),
    "RouteCheck": {
        "type": "object",
        "description": "a message as a pasted header block or a base64 .eml (one of them); "
        "address_rules, plus_projects and unrouted try edited settings without saving them",
        "properties": {
            "headers": string("the header block, as a mail client shows it"),
            "eml": string("the message file, base64", format="byte"),
            **properties(ROUTING),
        },
        "additionalProperties": False,
    },
    "RouteCheckResult": closed_object(
        {
            "outcome": string(enum=["create", "comment", "ignored", "quarantine"]),
            "reason": string(),
            "issue_key": nullable(string("the issue a comment would go to")),
            "route": ref("Route"),
            "thread": nullable(
                closed_object(
                    {"issue_key": string(), "via": string(), "detail": string()},
                    ["issue_key", "via", "detail"],
                )
            ),
            "recipients": {
                "type": "array",
                "items": closed_object(
                    {"address": string(), "header": _HEADER}, ["address", "header"]
                ),
            },
            "trail": {"type": "array", "items": string(), "description": "in order"},
            "sender": closed_object(
                {
                    "verified": boolean("the From: line is authenticated (DKIM or DMARC)"),
                    "domain": nullable(string()),
                    "method": nullable(string(enum=["dkim", "dmarc"])),
                    "reason": nullable(string("why not verified")),
                    "summary": string(),
                    "as_account": boolean("the sender's Jira account would write it"),
                },
                ["verified", "domain", "method", "reason", "summary", "as_account"],
            ),
            "message": closed_object(
                {
                    "sender": nullable(string()),
                    "subject": string(),
                    "message_id": nullable(string()),
                },
                ["sender", "subject", "message_id"],
            ),
            "preview": _AGENTS_VIEW,
        },
        [
            "outcome",
            "reason",
            "issue_key",
            "route",
            "thread",
            "recipients",
            "trail",
            "message",
            "preview",
        ],
        "what the pipeline would do; the rate limit and whether an issue still exists in "
        "Jira are not checked",
    ),
    "ProjectFeeds": closed_object(
        {
            "project_key": _KEY,
            "feeds": {
                "type": "array",
                "items": closed_object(
                    {
                        "source_id": integer(1),
                        "source_name": string(),
                        "mailbox": string("the account the source reads"),
                        "enabled": {"type": "boolean"},
                        "status": string(enum=["ok", "error", "disabled", "unknown"]),
                        "status_message": string(),
                        "last_poll_at": nullable(string("ISO 8601, UTC", format="date-time")),
                        "messages_today": integer(0, description="email log entries today"),
                        "addresses": {
                            "type": "array",
                            "items": closed_object(
                                {
                                    "kind": string(
                                        "rule; plus (local+KEY@...); unrouted (mail no rule "
                                        "matches); all (a source without address rules)",
                                        enum=["rule", "plus", "unrouted", "all"],
                                    ),
                                    "rule_index": nullable(integer(0)),
                                    "match": nullable(string(enum=list(RULE_KINDS))),
                                    "pattern": nullable(string()),
                                    "issue_type": string(),
                                },
                                ["kind", "rule_index", "match", "pattern", "issue_type"],
                            ),
                        },
                    },
                    [
                        "source_id",
                        "source_name",
                        "mailbox",
                        "enabled",
                        "status",
                        "status_message",
                        "last_poll_at",
                        "messages_today",
                        "addresses",
                    ],
                ),
            },
        },
        ["project_key", "feeds"],
        "the tenant's sources that create issues in the project, and by which addresses",
    ),
}
