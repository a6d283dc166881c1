"""The outbound part of the admin API's OpenAPI document: paths and schemas, merged into
`connector.admin.openapi.document()`; written beside `outbound_api`, which they describe."""

from __future__ import annotations

from connector.admin.openapi_operations import body as request_body
from connector.admin.openapi_operations import operation, path_id, query
from connector.outbound.templates import NAMES
from connector.resources.declare import properties, required
from connector.resources.notification_settings import BY_NAME as NOTIFICATION_BY_NAME
from connector.resources.notification_settings import SETTINGS as NOTIFICATION_SETTINGS
from connector.resources.outbound_connection import SETTINGS as CONNECTION_SETTINGS
from connector.resources.schema import Schema, closed_object, ref, string
from connector.storage.outbox import STATUSES as MESSAGE_STATUSES
from connector.storage.webhook_events import STATUSES as EVENT_STATUSES

_TIME: Schema = {"type": "string", "format": "date-time", "nullable": True}
# Here a conflict is only ever the item's state; nothing asks for an acknowledgement.
_STATE_ONLY = {409: "not possible in the item's state"}


def _operation(
    summary: str,
    ok: tuple[str, str],
    *,
    errors: tuple[int, ...] = (),
    body: tuple[str, Schema] | None = None,
    parameters: list[Schema] | None = None,
) -> Schema:
    """An administrator's call answering 200 (`ok`: description, schema name)."""
    return operation(
        summary,
        (200, *ok),
        errors=errors,
        body=request_body(*body) if body is not None else None,
        parameters=parameters,
        error_descriptions=_STATE_ONLY,
    )


_LIST_QUERY = [
    query("before_id", "the next page: next_before_id of the last", {"type": "integer"}),
    query("limit", "1 to 200, default 50", {"type": "integer"}),
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

_CONNECTION_SETTINGS = properties(CONNECTION_SETTINGS, write_only=False)
_STEP = closed_object(
    {
        "name": string(enum=["configure", "connect", "tls", "authenticate", "send"]),
        "ok": {"type": "boolean"},
        "detail": string(),
        "error": {"type": "string", "nullable": True},
        "elapsed_ms": {"type": "integer", "minimum": 0},
    },
    ["name", "ok", "detail", "error", "elapsed_ms"],
)
# The template names live with the templates, so the document adds them here.
_TEMPLATES_SAID = f"Jinja2 sources by name ({', '.join(NAMES)}); left out: the default"
_SETTINGS = {
    **properties(NOTIFICATION_SETTINGS),
    "templates": {
        **NOTIFICATION_BY_NAME["templates"].property_schema(),
        "description": _TEMPLATES_SAID,
    },
}
_TEMPLATE_ERROR = closed_object(
    {
        "template": string("the template that failed, e.g. comment_html"),
        "reason": string('why, e.g. "took longer than 2 s to render"'),
        "at": _TIME,
        "issue_key": {"type": "string", "nullable": True},
    },
    ["template", "reason", "at", "issue_key"],
    "answered, not saved: a custom template failed as mail was sent, so the custom "
    "templates are off (the defaults are used) until the settings are saved again",
)
_EVENT = {
    "id": {"type": "integer"},
    "event": string(),
    "issue_key": {"type": "string", "nullable": True},
    "comment_id": {"type": "string", "nullable": True},
    "status": string(enum=list(EVENT_STATUSES)),
    "reason": string("what was done, or why nothing was"),
    "attempts": {"type": "integer", "minimum": 0},
    "received_at": _TIME,
    "updated_at": _TIME,
}
_MESSAGE = {
    "id": {"type": "integer"},
    "kind": string(enum=["notification", "acknowledgement"]),
    "issue_key": {"type": "string", "nullable": True},
    "event_id": {"type": "integer", "nullable": True},
    "recipient": string(),
    "recipient_name": string(),
    "subject": string(),
    "message_id": string(),
    "status": string(enum=list(MESSAGE_STATUSES)),
    "error": string("the last error, in the server's words"),
    "attempts": {"type": "integer", "minimum": 0},
    "next_attempt_at": _TIME,
    "content_kept": {"type": "boolean"},
    "created_at": _TIME,
    "sent_at": _TIME,
}

OUTBOUND_SCHEMAS: dict[str, Schema] = {
    "ConnectionSettings": closed_object(
        properties(CONNECTION_SETTINGS),
        required(CONNECTION_SETTINGS),
        "PUT replaces them all; password is write-only (left out: kept; null: removed)",
    ),
    "OutboundConnection": closed_object(
        {
            "configured": {"type": "boolean"},
            **_CONNECTION_SETTINGS,
            # Not format email in the answer: until a connection is saved it is "".
            "from_address": string("the sender address; empty until saved"),
            "has_password": {"type": "boolean"},
            "status": string("unknown until used", enum=["unknown", "ok", "error"]),
            "status_message": string(),
            "status_at": _TIME,
        },
        ["configured", *_CONNECTION_SETTINGS, "has_password", "status", "status_message"],
    ),
    "ConnectionTest": closed_object(
        {"to": string(format="email"), "connection": ref("ConnectionSettings")},
        ["to"],
        "without connection: the saved one (and its status is updated)",
    ),
    "ConnectionTestReport": closed_object(
        {
            "ok": {"type": "boolean"},
            "steps": {"type": "array", "items": _STEP},
            "message_id": string(),
        },
        ["ok", "steps", "message_id"],
    ),
    "NotificationSettings": closed_object(
        {
            **_SETTINGS,
            "template_error": {**_TEMPLATE_ERROR, "nullable": True},
            "default_templates": {"type": "object", "additionalProperties": string()},
        },
        [*_SETTINGS],
    ),
    "WebhookEventList": closed_object(
        {
            "events": {"type": "array", "items": closed_object(_EVENT, list(_EVENT))},
            "next_before_id": {"type": "integer", "nullable": True},
        },
        ["events", "next_before_id"],
    ),
    "OutboundMessage": closed_object(_MESSAGE, list(_MESSAGE)),
    "OutboundMessageList": closed_object(
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
                query("status", "only this status", string(enum=list(EVENT_STATUSES))),
                query("event", "only this webhook event, e.g. comment_created"),
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
                query("status", "only this status", string(enum=list(MESSAGE_STATUSES))),
                query("issue_key", "only mail about this issue"),
                *_LIST_QUERY,
            ],
        ),
    },
    "/api/v1/outbound-messages/{message_id}/retry": {
        "parameters": [path_id("message_id")],
        "post": _operation(
            "Send a failed mail again",
            ("the message, queued again", "OutboundMessage"),
            errors=(404, 409),
        ),
    },
}
