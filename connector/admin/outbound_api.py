"""`/api/v1/outbound-connection`, `notification-settings`, `webhook-events`, `outbound-messages`.

The connection's password is write-only: left out it is kept, `null` removes it, and it is
never answered (only `has_password`). Templates are compiled and tried with sample values,
within the template budget (`connector.outbound.rendering`), before they are saved, so a
broken or runaway one is a 400 naming it (`templates.<name>`), not a failure in a customer's
mail later. One that fails only later, with a real issue's values, turns the custom templates
off; the settings then answer `template_error` (which, why, when, for which issue) until they
are saved again.
"""

from __future__ import annotations

from typing import Any

from connector.admin.endpoint import Answer, ApiCall, log_action
from connector.admin.errors import ApiError, not_found
from connector.admin.host_checks import refuse_unusable_host
from connector.admin.serialize import iso
from connector.outbound.probe import send_test
from connector.outbound.templates import DEFAULTS
from connector.outbound.transport import oauth_provider
from connector.outbound_config import (
    ConnectionSpec,
    NotificationSettings,
    OutboundConfigError,
    connection_from_json,
    is_address,
    oauth_smtp_problem,
    settings_from_json,
)
from connector.storage.outbound import KEEP, OutboundRepository, StoredConnection
from connector.storage.outbox import STATUSES as MESSAGE_STATUSES
from connector.storage.outbox import OutboundMessage
from connector.storage.webhook_events import STATUSES as EVENT_STATUSES
from connector.storage.webhook_events import WebhookEvent

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _repository(call: ApiCall) -> OutboundRepository:
    return call.runtime.outbound


def _invalid(exc: OutboundConfigError) -> ApiError:
    return ApiError(400, str(exc), field=exc.field)


# -- connection ------------------------------------------------------------------------------


def connection_json(stored: StoredConnection | None) -> dict[str, Any]:
    spec = stored.spec if stored else ConnectionSpec()
    return {
        "configured": stored is not None,
        **spec.to_json(),
        "has_password": bool(stored and stored.has_password),
        "status": stored.status if stored else "unknown",
        "status_message": stored.status_message if stored else "",
        "status_at": iso(stored.status_at) if stored else None,
    }


def get_connection(call: ApiCall) -> Answer:
    """GET /api/v1/outbound-connection: the settings (defaults until saved), never secrets."""
    return Answer(connection_json(_repository(call).connection(call.tenant.id)))


def put_connection(call: ApiCall) -> Answer:
    """PUT /api/v1/outbound-connection: replace the settings; the status is unknown again."""
    body = call.body()
    repository = _repository(call)
    stored = repository.connection(call.tenant.id)
    spec, password = _read_connection(call, body, stored)
    saved = repository.save_connection(call.tenant.id, spec, password)
    log_action(call, "outbound_connection_saved", transport=spec.transport, auth=spec.auth)
    return Answer(connection_json(saved))


def try_connection(call: ApiCall) -> Answer:
    """POST /api/v1/outbound-connection/test: send a test message to `to` and report each step;
    with `connection`, those settings (not yet saved) are tested instead of the stored ones."""
    body = call.body()
    unknown = sorted(set(body) - {"to", "connection"})
    if unknown:
        raise ApiError(400, f"{unknown[0]}: is not an input of the test", field=unknown[0])
    to = body.get("to")
    if not isinstance(to, str) or not is_address(to.strip()):
        raise ApiError(400, "to: an email address to send the test message to", field="to")
    repository = _repository(call)
    stored = repository.connection(call.tenant.id)
    given = body.get("connection")
    if given is not None:
        if not isinstance(given, dict):
            raise ApiError(400, "connection: must be an object", field="connection")
        spec, password = _read_connection(call, given, stored)
        report = send_test(
            call.runtime,
            call.tenant,
            spec,
            to_address=to.strip(),
            password=password if isinstance(password, str) else None,
            record=False,
        )
    else:
        if stored is None:
            raise ApiError(409, "no outbound connection is saved yet; send `connection`")
        report = send_test(call.runtime, call.tenant, stored.spec, to_address=to.strip())
    log_action(call, "outbound_connection_tested", ok=report.ok)
    return Answer(report.to_json())


def _read_connection(
    call: ApiCall, body: dict[str, Any], stored: StoredConnection | None
) -> tuple[ConnectionSpec, str | object | None]:
    password: str | object | None = KEEP
    if "password" in body:
        password = body["password"]
        if password is not None and (not isinstance(password, str) or not password):
            raise ApiError(400, "password: must be text, or null to remove it", field="password")
    has_password = isinstance(password, str) or (
        password is KEEP and bool(stored and stored.has_password)
    )
    try:
        spec = connection_from_json(body, has_password=has_password)
    except OutboundConfigError as exc:
        raise _invalid(exc) from None
    if spec.transport == "smtp":
        refuse_unusable_host(call.runtime.host_policy, spec.host, spec.port, field="host")
    if (
        spec.auth == "password"
        and password is KEEP
        and stored is not None
        and stored.spec.password_endpoint() != spec.password_endpoint()
    ):
        # The stored password goes only where it was saved for; see `password_endpoint`.
        raise ApiError(
            400,
            "password: enter the password again: the saved one is only sent to the server, "
            "port, security, certificate check and user name it was saved with",
            field="password",
        )
    if spec.source_id is not None:
        source = call.runtime.sources.find(spec.source_id)
        if source is None or source.tenant_id != call.tenant.id:
            raise ApiError(400, f"source_id: no mail source {spec.source_id}", field="source_id")
        if spec.auth == "oauth" and not source.spec.uses_oauth:
            raise ApiError(
                400, "source_id: that source does not sign in with OAuth", field="source_id"
            )
        if spec.auth == "oauth":
            problem = oauth_smtp_problem(spec, oauth_provider(call.runtime, source))
            if problem is not None:
                raise _invalid(problem)
    return spec, password


# -- notification settings ---------------------------------------------------------------------


def get_notifications(call: ApiCall) -> Answer:
    """GET /api/v1/notification-settings, with the default templates beside the tenant's."""
    return Answer(settings_json(_repository(call).settings(call.tenant.id)))


def put_notifications(call: ApiCall) -> Answer:
    """PUT /api/v1/notification-settings: replace them; settings left out take their default.
    Saving turns custom templates that were off after a failure back on."""
    body = call.body()
    # Answered by GET; sending them back changes nothing.
    body.pop("default_templates", None)
    body.pop("template_error", None)
    try:
        settings = settings_from_json(body)
        call.runtime.templates.check(settings.templates, tenant=call.tenant.id)
    except OutboundConfigError as exc:
        raise _invalid(exc) from None
    _repository(call).save_settings(call.tenant.id, settings)
    log_action(call, "notification_settings_saved", enabled=settings.enabled)
    return Answer(settings_json(settings))


def settings_json(settings: NotificationSettings) -> dict[str, Any]:
    fault = settings.template_fault
    return {
        **settings.to_json(),
        "template_error": {**fault.to_json(), "at": iso(fault.at)} if fault else None,
        "default_templates": _defaults(),
    }


def _defaults() -> dict[str, str]:
    return {
        f"{kind}_{part}": text for kind, parts in DEFAULTS.items() for part, text in parts.items()
    }


# -- audit lists -------------------------------------------------------------------------------


def list_webhook_events(call: ApiCall) -> Answer:
    """GET /api/v1/webhook-events?status=&event=&before_id=&limit=: newest first."""
    _only(call, {"status", "event", "before_id", "limit"})
    status = _choice(call, "status", EVENT_STATUSES)
    limit = _limit(call)
    events = call.runtime.webhook_events.search(
        call.tenant.id,
        status=status,
        event=call.query.get("event") or None,
        limit=limit,
        before_id=call.query_int("before_id"),
    )
    return Answer(
        {
            "events": [event_json(e) for e in events],
            "next_before_id": events[-1].id if len(events) == limit else None,
        }
    )


def list_messages(call: ApiCall) -> Answer:
    """GET /api/v1/outbound-messages?status=&issue_key=&before_id=&limit=: newest first."""
    _only(call, {"status", "issue_key", "before_id", "limit"})
    status = _choice(call, "status", MESSAGE_STATUSES)
    limit = _limit(call)
    messages = call.runtime.outbox.search(
        call.tenant.id,
        status=status,
        issue_key=call.query.get("issue_key") or None,
        limit=limit,
        before_id=call.query_int("before_id"),
    )
    return Answer(
        {
            "messages": [message_json(m) for m in messages],
            "next_before_id": messages[-1].id if len(messages) == limit else None,
        }
    )


def retry_message(call: ApiCall) -> Answer:
    """POST /api/v1/outbound-messages/{message_id}/retry: send a failed mail again."""
    message_id = call.path_int("message_id")
    outbox = call.runtime.outbox
    found = outbox.get(call.tenant.id, message_id)
    if found is None:
        raise not_found("outbound message", message_id)
    if found.status != "failed":
        raise ApiError(409, f"only failed mail can be retried; this one is {found.status}")
    if not found.content_kept:
        raise ApiError(409, "the mail's content was purged (retention), so it cannot be sent")
    retried = outbox.retry(call.tenant.id, message_id)
    if retried is None:
        raise not_found("outbound message", message_id)
    log_action(call, "outbound_message_retried", message_id=message_id)
    return Answer(message_json(retried))


def event_json(event: WebhookEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "event": event.event,
        "issue_key": event.issue_key,
        "comment_id": event.comment_id,
        "status": event.status,
        "reason": event.reason,
        "attempts": event.attempts,
        "received_at": iso(event.received_at),
        "updated_at": iso(event.updated_at),
    }


def message_json(message: OutboundMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "kind": message.kind,
        "issue_key": message.issue_key,
        "event_id": message.event_id,
        "recipient": message.recipient,
        "recipient_name": message.recipient_name,
        "subject": message.subject,
        "message_id": message.message_id,
        "status": message.status,
        "error": message.error,
        "attempts": message.attempts,
        "next_attempt_at": iso(message.next_attempt_at),
        "content_kept": message.content_kept,
        "created_at": iso(message.created_at),
        "sent_at": iso(message.sent_at),
    }


def _only(call: ApiCall, allowed: set[str]) -> None:
    unknown = set(call.query) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(400, f"{name}: is not a filter of this list", field=name)


def _choice(call: ApiCall, name: str, choices: tuple[str, ...]) -> str | None:
    value = call.query.get(name) or None
    if value is not None and value not in choices:
        raise ApiError(400, f"{name}: must be one of {', '.join(choices)}", field=name)
    return value


def _limit(call: ApiCall) -> int:
    limit = call.query_int("limit")
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit: must be from 1 to {MAX_LIMIT}", field="limit")
    return limit
