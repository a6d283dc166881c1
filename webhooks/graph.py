"""Microsoft Graph change notifications: `POST /graph/notifications` and `/graph/lifecycle`.

Both answer Graph's validation request (`?validationToken=...`, when a subscription is made)
with 200 and the token as `text/plain`, at once (Graph allows 10 s). A notification batch
(`{"value": [...]}`) is checked item by item: the subscription must be one we keep and the
item's `clientState` the one it was made with (compared in constant time, as hashes,
`connector.storage.graph_subscriptions`). A mismatch is logged and ignored, never acted on.
What passes is persisted as a mark on the subscription's row (one small UPDATE) and the
answer is 202 well within Graph's 3 s; the worker takes the marks and does the work in the
background (`connector.push.graph_push`): a change notification or `missed` polls the source
through the delta query, `reauthorizationRequired` renews the subscription,
`subscriptionRemoved` makes a new one and then polls. The same message notified three times
is three marks on one row, and the poll they cause processes it once.

Answers: 202 when at least one item passed; 403 when none did (nothing was acted on; the
sender is either not Graph or speaks of a subscription we ended: a deleted source's lapses
at Graph within three days, and Graph gives up retrying each notification after 4 hours);
400 for a body that is not a notification batch; 503 when the database could not record the
marks, so Graph retries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from connector import logs
from connector.http_body import BodyError, read_json_object
from connector.push.graph_api import LIFECYCLE_PATH, NOTIFICATIONS_PATH
from connector.runtime import Runtime
from connector.storage.graph_subscriptions import REAUTHORIZE, RESUBSCRIBE, GraphSubscription

log = logging.getLogger(__name__)

# A batch holds notifications of many subscriptions; each is well under 1 kB (basic
# notifications carry ids only). Graph's largest batch is not documented (not confirmed).
NOTIFICATION_MAX_BYTES = 1024 * 1024
MAX_VALIDATION_TOKEN_CHARS = 4096
# Each item costs a lookup: a forged batch of thousands must not make thousands. Graph's own
# batches are far smaller in practice (its maximum is not documented: not confirmed).
MAX_ITEMS = 1000
# What each lifecycle event asks of the worker: a pending action, or a poll (delta sync).
_LIFECYCLE = {
    "reauthorizationRequired": REAUTHORIZE,
    "subscriptionRemoved": RESUBSCRIBE,
    "missed": "",
}


def graph_routes() -> list[Route]:
    return [
        Route(NOTIFICATIONS_PATH, receive, methods=["POST"]),
        Route(LIFECYCLE_PATH, receive, methods=["POST"]),
    ]


async def receive(request: Request) -> Response:
    token = request.query_params.get("validationToken")
    if token is not None:
        if not token or len(token) > MAX_VALIDATION_TOKEN_CHARS:
            return JSONResponse({"error": "validationToken is empty or too long"}, 400)
        # The decoded token, as it came (Graph compares it); text/plain, so nothing renders.
        return PlainTextResponse(token, headers={"X-Content-Type-Options": "nosniff"})
    try:
        body = await read_json_object(request, limit=NOTIFICATION_MAX_BYTES)
    except BodyError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    items = body.get("value")
    if not isinstance(items, list) or not items:
        return JSONResponse({"error": "expected a batch of notifications in value"}, 400)
    if len(items) > MAX_ITEMS:
        return JSONResponse({"error": f"more than {MAX_ITEMS} notifications in one batch"}, 400)
    runtime: Runtime = request.app.state.runtime
    try:
        accepted = await run_in_threadpool(_accept, runtime, items)
    except Exception:  # not persisted: a 5xx makes Graph deliver it again
        log.exception("graph notifications could not be recorded")
        return JSONResponse({"error": "could not record the notifications"}, 503)
    if not accepted:
        return JSONResponse({"error": "no notification could be verified"}, 403)
    scheduler = getattr(request.app.state, "scheduler", None)
    if scheduler is not None:  # the worker runs in this process: no need to wait for it
        scheduler.wake()
    return Response(status_code=202)


def _accept(runtime: Runtime, items: list[Any]) -> int:
    """Check each notification, then mark each subscription once for all of its items that
    passed (a storm is one UPDATE); returns how many items passed."""
    repository = runtime.graph_subscriptions
    found: dict[str, GraphSubscription | None] = {}  # a storm names one subscription often
    marks: dict[str, _Mark] = {}
    for item in items:
        subscription_id = item.get("subscriptionId") if isinstance(item, dict) else None
        if not isinstance(subscription_id, str) or not 0 < len(subscription_id) <= 128:
            _refused("no subscription id", "")
            continue
        if subscription_id not in found:
            found[subscription_id] = repository.by_subscription(subscription_id)
        subscription = found[subscription_id]
        if subscription is None:
            _refused("unknown subscription", subscription_id)
            continue
        if not subscription.accepts(item.get("clientState")):
            _refused("clientState mismatch", subscription_id, subscription.source_id)
            continue
        mark = marks.setdefault(subscription_id, _Mark(subscription.source_id))
        mark.items += 1
        event = item.get("lifecycleEvent")
        if event is None:
            mark.notified = True
        elif event in _LIFECYCLE:
            pending = _LIFECYCLE[event]
            mark.notified = mark.notified or not pending
            if pending == RESUBSCRIBE or not mark.pending:  # a new one covers reauthorizing
                mark.pending = pending
        else:  # authentic, but nothing we know how to act on
            logs.event(log, "graph.lifecycle_unknown", subscription=subscription_id)
    accepted = 0
    for subscription_id, mark in marks.items():
        wanted = mark.notified or bool(mark.pending)
        if wanted and not repository.mark(
            subscription_id, notified=mark.notified, pending=mark.pending
        ):
            continue  # ended meanwhile
        accepted += mark.items
        logs.event(
            log,
            "graph.notified",
            source_id=mark.source_id,
            items=mark.items,
            poll=mark.notified,
            pending=mark.pending,
        )
    return accepted


@dataclass
class _Mark:
    source_id: int
    items: int = 0
    notified: bool = False
    pending: str = ""


def _refused(why: str, subscription_id: str, source_id: int | None = None) -> None:
    # Never the clientState itself: a guess logged is a guess kept.
    logs.event(
        log,
        "graph.notification_refused",
        logging.WARNING,
        why=why,
        subscription=subscription_id[:128],
        source_id=source_id,
    )
