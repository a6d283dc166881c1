"""Jira webhooks declared in the descriptor (comment created, issue updated, issue deleted).

Thin: verify the tenant JWT against the request (from its headers, before the body is read),
read the body with a cap and parse it off the event loop, record the event
(`connector.outbound.intake`) and answer at once; the worker decides and sends
(`connector.outbound.worker`), so a slow Jira or mail server never makes Jira wait. Where the
worker runs in this process (`connector serve`), it is told at once, so the event is decided
now rather than at the outbound round's next tick. A request that does not verify changes
nothing. `app.state.jira_event_handler` is told of each verified event as well (logging,
tests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connector import logs
from connector.connect.auth import AuthenticationError
from connector.connect.http import authenticate_request
from connector.engine import WorkEngine
from connector.http_body import WEBHOOK_MAX_BYTES, BodyError, read_json_object
from connector.outbound.intake import receive
from connector.runtime import Runtime
from connector.storage.webhook_events import RECEIVED

log = logging.getLogger(__name__)

JiraEventHandler = Callable[[str, str, dict[str, Any]], None]
# Jira's id of one delivery, the same when it delivers again ("Webhooks", Jira Cloud docs).
DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"


def log_event_handler(client_key: str, event: str, payload: dict[str, Any]) -> None:
    issue = payload.get("issue")
    issue_key = issue.get("key") if isinstance(issue, dict) else None
    logs.event(log, "jira.webhook_seen", client_key=client_key, webhook=event, issue_key=issue_key)


def webhook_endpoint(event: str) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        try:
            authenticated = authenticate_request(
                request, tenants=runtime.tenants, base_path=runtime.settings.base_path
            )
        except AuthenticationError as exc:
            logs.event(log, "jira.webhook_refused", logging.WARNING, webhook=event, reason=exc)
            return JSONResponse({"error": str(exc)}, status_code=401)
        try:
            payload = await read_json_object(request, limit=WEBHOOK_MAX_BYTES)
        except BodyError as exc:
            logs.event(
                log,
                "jira.webhook_body_refused",
                logging.WARNING,
                client_key=authenticated.tenant.client_key,
                webhook=event,
                status=exc.status,
            )
            return JSONResponse({"error": f"webhook body: {exc.message}"}, status_code=exc.status)
        tenant = authenticated.tenant
        recorded = await run_in_threadpool(
            receive,
            runtime.webhook_events,
            tenant.id,
            tenant.client_key,
            event,
            payload,
            request.headers.get(DELIVERY_HEADER),
        )
        engine: WorkEngine | None = getattr(request.app.state, "scheduler", None)
        if engine is not None and recorded.status == RECEIVED:
            engine.events_recorded()  # the worker runs in this process: decided now, not next tick
        handler: JiraEventHandler = request.app.state.jira_event_handler
        handler(tenant.client_key, event, payload)
        return Response(status_code=204)

    endpoint.__name__ = "webhook_" + event.replace(":", "_")
    return endpoint
