"""The JSON schemas of address routing in the admin API (`components.schemas`): the rules edited
with a source, the route check, the route kept in the email log, and a project's feeds.

Kept apart from `openapi_schemas` (which includes them) so each file stays about one subject.
"""

from __future__ import annotations

from typing import Any

from connector.mail_source import RULE_POLICY_SETTINGS
from connector.routing.addresses import (
    MAX_PATTERN_CHARS,
    MAX_ROUTED_RECIPIENTS,
    MAX_RULES,
    RECIPIENT_HEADERS,
    RULE_KINDS,
)

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(description: str = "", **more: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **more}


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def _integer(minimum: int, **more: Any) -> Schema:
    return {"type": "integer", "minimum": minimum, **more}


def _object(properties: Schema, required: list[str], description: str = "") -> Schema:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_KEY = _string(pattern="^[A-Z][A-Z0-9_]{0,31}$")
_KEYS: Schema = {"type": "array", "items": _KEY}
_HEADER = _string(enum=list(RECIPIENT_HEADERS))

# Settings a source takes besides its connection and policy (`openapi_schemas._SETTINGS`).
ROUTING_SETTINGS: Schema = {
    "address_rules": {
        "type": "array",
        "maxItems": MAX_RULES,
        "items": ref("AddressRule"),
        "description": "first match wins; recipients are read from "
        + ", ".join(RECIPIENT_HEADERS)
        + f" in that order, the first {MAX_ROUTED_RECIPIENTS} of them tried against the rules",
    },
    "plus_projects": {
        **_KEYS,
        "description": "projects a local+KEY@domain address of ours may name (an allow-list)",
    },
    "unrouted": _string(
        "mail no address rule matches: the source's own project, or ignored (replies to "
        "known threads are commented either way)",
        enum=["source", "ignore"],
    ),
}

_ROUTE_ALSO = _object(
    {
        "project_key": _KEY,
        "address": _string(),
        "header": _HEADER,
        "rule_index": _nullable(_integer(0, description="null: a plus address")),
    },
    ["project_key", "address", "header", "rule_index"],
)

ROUTING_SCHEMAS: dict[str, Schema] = {
    "AddressRule": _object(
        {
            "match": _string(
                "exact: one address (also its +tag forms); domain: *@example.com; regex: "
                "an RE2 regular expression over the whole address (case-insensitive; no "
                "backreferences or lookaround, as it runs in linear time); "
                "default: domain for *@..., else exact",
                enum=list(RULE_KINDS),
            ),
            "pattern": _string(minLength=1, maxLength=MAX_PATTERN_CHARS),
            "project_key": _KEY,
            "issue_type": _nullable(_string("null: the source's issue type", minLength=1)),
            "defaults": {
                "type": "object",
                "description": "source-policy settings for this rule's issues, over the "
                "source's: " + ", ".join(sorted(RULE_POLICY_SETTINGS)) + "; subject_projects "
                "defaults to the rule's project",
                "properties": {name: {} for name in sorted(RULE_POLICY_SETTINGS)},
                "additionalProperties": False,
            },
        },
        ["pattern", "project_key"],
    ),
    "Route": _object(
        {
            "decided_by": _string(enum=["plus", "rule", "source", "ignore"]),
            "project_key": _nullable(_KEY),
            "issue_type": _nullable(_string()),
            "header": _nullable(_HEADER),
            "address": _nullable(_string()),
            "rule_index": _nullable(_integer(0, description="into the source's address_rules")),
            "reason": _string(),
            "subject_projects": _KEYS,
            "also": {
                "type": "array",
                "items": _ROUTE_ALSO,
                "description": "other projects the mail was also addressed to",
            },
            "notes": {"type": "array", "items": _string()},
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
            "headers": _string("the header block, as a mail client shows it"),
            "eml": _string("the message file, base64", format="byte"),
            **ROUTING_SETTINGS,
        },
        "additionalProperties": False,
    },
    "RouteCheckResult": _object(
        {
            "outcome": _string(enum=["create", "comment", "ignored"]),
            "reason": _string(),
            "issue_key": _nullable(_string("the issue a comment would go to")),
            "route": ref("Route"),
            "thread": _nullable(
                _object(
                    {"issue_key": _string(), "via": _string(), "detail": _string()},
                    ["issue_key", "via", "detail"],
                )
            ),
            "recipients": {
                "type": "array",
                "items": _object({"address": _string(), "header": _HEADER}, ["address", "header"]),
            },
            "trail": {"type": "array", "items": _string(), "description": "in order"},
            "message": _object(
                {
                    "sender": _nullable(_string()),
                    "subject": _string(),
                    "message_id": _nullable(_string()),
                },
                ["sender", "subject", "message_id"],
            ),
        },
        ["outcome", "reason", "issue_key", "route", "thread", "recipients", "trail", "message"],
        "what the pipeline would do; the rate limit and whether an issue still exists in "
        "Jira are not checked",
    ),
    "ProjectFeeds": _object(
        {
            "project_key": _KEY,
            "feeds": {
                "type": "array",
                "items": _object(
                    {
                        "source_id": _integer(1),
                        "source_name": _string(),
                        "mailbox": _string("the account the source reads"),
                        "enabled": {"type": "boolean"},
                        "status": _string(enum=["ok", "error", "disabled", "unknown"]),
                        "status_message": _string(),
                        "addresses": {
                            "type": "array",
                            "items": _object(
                                {
                                    "kind": _string(
                                        "rule; plus (local+KEY@...); unrouted (mail no rule "
                                        "matches); all (a source without address rules)",
                                        enum=["rule", "plus", "unrouted", "all"],
                                    ),
                                    "rule_index": _nullable(_integer(0)),
                                    "match": _nullable(_string(enum=list(RULE_KINDS))),
                                    "pattern": _nullable(_string()),
                                    "issue_type": _string(),
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
                        "addresses",
                    ],
                ),
            },
        },
        ["project_key", "feeds"],
        "the tenant's sources that create issues in the project, and by which addresses",
    ),
}
