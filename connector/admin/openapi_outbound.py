"""The outbound part of the admin API's OpenAPI document: paths and schemas, merged into
`connector.admin.openapi.document()`; written beside `outbound_api`, which they describe."""

from __future__ import annotations

from connector.admin.openapi_schemas import Schema, ref
from connector.outbound.templates import NAMES
from connector.outbound_config import AUTH_METHODS, EVENTS, SECURITY, TRANSPORTS
from connector.storage.outbox import STATUSES as MESSAGE_STATUSES
from connector.storage.webhook_events import STATUSES as EVENT_STATUSES

_TIME: Schema = {"type": "string", "format": "date-time", "nullable": True}
_ERRORS = {
    400: "invalid input; `field` names it",
    401: "no token, or one that does not verify",
    403: "not a Jira administrator of this site, or a token naming no user",
    404: "no such item for this site",
    409: "not possible in the item's state",
}


def _string(description: str = "", **more: object) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **more}


def _object(properties: Schema, required: list[str], description: str = "") -> Schema:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _operation(
    summary: str,
    ok: tuple[str, str],
    *,
    errors: tuple[int, ...] = (),
    body: tuple[str, Schema] | None = None,
    parameters: list[Schema] | None = None,
) -> Schema:
    description, schema = ok
    responses: Schema = {
        "200": {
            "description": description,
            "content": {"application/json": {"schema": ref(schema)}},
        }
    }
    for code in (401, 403, *errors):
        responses[str(code)] = {
            "description": _ERRORS[code],
            "content": {"application/json": {"schema": ref("Error")}},
        }
    operation: Schema = {"summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        name, example = body
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(name), "example": example}},
        }
    return operation


def _query(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_LIST_QUERY = [
    _query("before_id", "the next page: next_before_id of the last", {"type": "integer"}),
    _query("limit", "1 to 200, default 50", {"type": "integer"}),
]

_CONNECTION_EXAMPLE: Schema = {
    "transport": "smtp",
    "auth": "password",
    "host": "smtp.example.com",
    "port": 587,
    "security": "starttls",
    "username": "support@example.com",
    "password": "app-password",
    "from_address": "support@example.com",
    "from_name": "Example Support",
}
_TEST_EXAMPLE: Schema = {
    "to": "me@example.com",
    "connection": {**_CONNECTION_EXAMPLE, "host": "127.0.0.1", "port": 1, "timeout_seconds": 2},
}
_SETTINGS_EXAMPLE: Schema = {
    "enabled": True,
    "events": ["comment_created", "issue_status"],
    "projects": {"OPS": {"enabled": False, "events": []}},
    "acknowledgement": True,
    "acknowledgement_per_hour": 3,
    "link": "",
    "templates": {"comment_subject": "Re: [{{ issue_key }}] {{ summary }}"},
    "retention_days": 30,
}

_CONNECTION_SETTINGS: Schema = {
    "transport": _string("smtp, or Microsoft Graph sendMail", enum=list(TRANSPORTS)),
    "auth": _string(
        "password; oauth: the sign-in of the mail source `source_id`", enum=list(AUTH_METHODS)
    ),
    "host": _string("SMTP server"),
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "security": _string(enum=list(SECURITY)),
    "verify_tls": {"type": "boolean"},
    "username": _string("SMTP account; Graph: the mailbox that sends"),
    "source_id": {"type": "integer", "nullable": True, "minimum": 1},
    "from_address": _string(format="email"),
    "from_name": _string(),
    "reply_to": _string("empty: the address of the mailbox the issue came in through"),
    "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 120},
    "enabled": {"type": "boolean"},
}
_STEP = _object(
    {
        "name": _string(enum=["configure", "connect", "tls", "authenticate", "send"]),
        "ok": {"type": "boolean"},
        "detail": _string(),
        "error": {"type": "string", "nullable": True},
        "elapsed_ms": {"type": "integer", "minimum": 0},
    },
    ["name", "ok", "detail", "error", "elapsed_ms"],
)
_PROJECT_RULE = _object(
    {
        "enabled": {"type": "boolean"},
        "events": {"type": "array", "items": _string(enum=list(EVENTS))},
    },
    [],
)
_SETTINGS: Schema = {
    "enabled": {"type": "boolean", "description": "notifications at all"},
    "events": {"type": "array", "items": _string(enum=list(EVENTS))},
    "projects": {
        "type": "object",
        "description": "project key -> its own on/off and events",
        "additionalProperties": _PROJECT_RULE,
    },
    "acknowledgement": {"type": "boolean", "description": "answer mail that creates an issue"},
    "acknowledgement_per_hour": {"type": "integer", "minimum": 1, "maximum": 100},
    "link": _string('"", "issue" (the Jira issue) or an https:// URL with {issue_key}'),
    "templates": {
        "type": "object",
        "description": f"Jinja2 sources by name ({', '.join(NAMES)}); left out: the default",
        "additionalProperties": {"type": "string"},
    },
    "retention_days": {
        "type": "integer",
        "minimum": 0,
        "maximum": 3650,
        "description": "days message content is kept; 0 keeps none",
    },
}
_TEMPLATE_ERROR = _object(
    {
        "template": _string("the template that failed, e.g. comment_html"),
        "reason": _string('why, e.g. "took longer than 2 s to render"'),
        "at": _TIME,
        "issue_key": {"type": "string", "nullable": True},
    },
    ["template", "reason", "at", "issue_key"],
    "answered, not saved: a custom template failed as mail was sent, so the custom "
    "templates are off (the defaults are used) until the settings are saved again",
)
_EVENT = {
    "id": {"type": "integer"},
    "event": _string(),
    "issue_key": {"type": "string", "nullable": True},
    "comment_id": {"type": "string", "nullable": True},
    "status": _string(enum=list(EVENT_STATUSES)),
    "reason": _string("what was done, or why nothing was"),
    "attempts": {"type": "integer", "minimum": 0},
    "received_at": _TIME,
    "updated_at": _TIME,
}
_MESSAGE = {
    "id": {"type": "integer"},
    "kind": _string(enum=["notification", "acknowledgement"]),
    "issue_key": {"type": "string", "nullable": True},
    "event_id": {"type": "integer", "nullable": True},
    "recipient": _string(),
    "recipient_name": _string(),
    "subject": _string(),
    "message_id": _string(),
    "status": _string(enum=list(MESSAGE_STATUSES)),
    "error": _string("the last error, in the server's words"),
    "attempts": {"type": "integer", "minimum": 0},
    "next_attempt_at": _TIME,
    "content_kept": {"type": "boolean"},
    "created_at": _TIME,
    "sent_at": _TIME,
}

OUTBOUND_SCHEMAS: dict[str, Schema] = {
    "ConnectionSettings": _object(
        {**_CONNECTION_SETTINGS, "password": {"type": "string", "nullable": True}},
        ["from_address"],
        "PUT replaces them all; password is write-only (left out: kept; null: removed)",
    ),
    "OutboundConnection": _object(
        {
            "configured": {"type": "boolean"},
            **_CONNECTION_SETTINGS,
            # Not format email in the answer: until a connection is saved it is "".
            "from_address": _string("the sender address; empty until saved"),
            "has_password": {"type": "boolean"},
            "status": _string("unknown until used", enum=["unknown", "ok", "error"]),
            "status_message": _string(),
            "status_at": _TIME,
        },
        ["configured", *_CONNECTION_SETTINGS, "has_password", "status", "status_message"],
    ),
    "ConnectionTest": _object(
        {"to": _string(format="email"), "connection": ref("ConnectionSettings")},
        ["to"],
        "without connection: the saved one (and its status is updated)",
    ),
    "ConnectionTestReport": _object(
        {
            "ok": {"type": "boolean"},
            "steps": {"type": "array", "items": _STEP},
            "message_id": _string(),
        },
        ["ok", "steps", "message_id"],
    ),
    "NotificationSettings": _object(
        {
            **_SETTINGS,
            "template_error": {**_TEMPLATE_ERROR, "nullable": True},
            "default_templates": {"type": "object", "additionalProperties": _string()},
        },
        [*_SETTINGS],
    ),
    "WebhookEventList": _object(
        {
            "events": {"type": "array", "items": _object(_EVENT, list(_EVENT))},
            "next_before_id": {"type": "integer", "nullable": True},
        },
        ["events", "next_before_id"],
    ),
    "OutboundMessage": _object(_MESSAGE, list(_MESSAGE)),
    "OutboundMessageList": _object(
        {
            "messages": {"type": "array", "items": ref("OutboundMessage")},
            "next_before_id": {"type": "integer", "nullable": True},
        },
        ["messages", "next_before_id"],
    ),
}

OUTBOUND_PATHS: Schema = {
    "/api/v1/outbound-connection": {
        "get": _operation(
            "The outbound mail connection (defaults until saved); secrets are never answered",
            ("the connection", "OutboundConnection"),
        ),
        "put": _operation(
            "Save the outbound connection; its status is unknown until it is used",
            ("the connection as saved", "OutboundConnection"),
            errors=(400,),
            body=("ConnectionSettings", _CONNECTION_EXAMPLE),
        ),
    },
    "/api/v1/outbound-connection/test": {
        "post": _operation(
            "Send a test message and report each step",
            ("each step, with the server's words", "ConnectionTestReport"),
            errors=(400, 409),
            body=("ConnectionTest", _TEST_EXAMPLE),
        ),
    },
    "/api/v1/notification-settings": {
        "get": _operation(
            "Which events tell customers (per project), acknowledgement, templates, retention",
            ("the settings, with the default templates", "NotificationSettings"),
        ),
        "put": _operation(
            "Save the notification settings; templates are checked before they are saved",
            ("the settings as saved", "NotificationSettings"),
            errors=(400,),
            body=("NotificationSettings", _SETTINGS_EXAMPLE),
        ),
    },
    "/api/v1/webhook-events": {
        "get": _operation(
            "Jira webhooks received, newest first, with what became of each",
            ("a page of events", "WebhookEventList"),
            errors=(400,),
            parameters=[
                _query("status", "only this status", _string(enum=list(EVENT_STATUSES))),
                _query("event", "only this webhook event, e.g. comment_created"),
                *_LIST_QUERY,
            ],
        ),
    },
    "/api/v1/outbound-messages": {
        "get": _operation(
            "Mail sent or queued, newest first: recipient, subject, status, error",
            ("a page of messages", "OutboundMessageList"),
            errors=(400,),
            parameters=[
                _query("status", "only this status", _string(enum=list(MESSAGE_STATUSES))),
                _query("issue_key", "only mail about this issue"),
                *_LIST_QUERY,
            ],
        ),
    },
    "/api/v1/outbound-messages/{message_id}/retry": {
        "parameters": [
            {"name": "message_id", "in": "path", "required": True, "schema": {"type": "integer"}}
        ],
        "post": _operation(
            "Send a failed mail again",
            ("the message, queued again", "OutboundMessage"),
            errors=(404, 409),
        ),
    },
}
