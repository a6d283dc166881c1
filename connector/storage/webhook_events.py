"""Every verified Jira webhook and what became of it: the audit list and the work queue.

`received` events wait for the worker; it claims one (`working`) and ends it `handled`,
`ignored` (with the reason) or `failed`, or postpones it (`retry`) when Jira or the database
could not answer. Jira's delivery id (`X-Atlassian-Webhook-Identifier`) is unique per
tenant, so a redelivered webhook is recorded once. A claim's lease is kept in
`next_attempt_at` (`connector.storage.retry_queue`): a worker that dies holding an event leaves
it due again when the lease ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.storage.models import WebhookEventRow
from connector.storage.retry_queue import RetryQueue
from connector.storage.times import as_utc, as_utc_or_none, utc_now

RECEIVED, WORKING, HANDLED, IGNORED, RETRY, FAILED = (
    "received",
    "working",
    "handled",
    "ignored",
    "retry",
    "failed",
)
STATUSES = (RECEIVED, WORKING, HANDLED, IGNORED, RETRY, FAILED)
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class WebhookEvent:
    id: int
    tenant_id: int
    delivery_id: str | None
    event: str
    issue_key: str | None
    comment_id: str | None
    facts: dict[str, Any]
    status: str
    reason: str
    attempts: int
    next_attempt_at: datetime | None
    received_at: datetime
    updated_at: datetime


class WebhookEvents(RetryQueue[WebhookEventRow, WebhookEvent]):
    def __init__(self, engine: Engine) -> None:
        super().__init__(
            engine,
            WebhookEventRow,
            waiting=(RECEIVED, RETRY),
            working=WORKING,
            lease_column="next_attempt_at",
        )

    def record(
        self,
        tenant_id: int,
        *,
        delivery_id: str | None,
        event: str,
        facts: dict[str, Any],
        status: str = RECEIVED,
        reason: str = "",
    ) -> tuple[WebhookEvent, bool]:
        """(the event, True) when new; (the first record, False) for a redelivery."""
        now = utc_now()
        row = WebhookEventRow(
            tenant_id=tenant_id,
            delivery_id=(delivery_id or None) and delivery_id[:128],
            event=event[:64],
            issue_key=_short(facts.get("issue_key"), 64),
            comment_id=_short(facts.get("comment_id"), 32),
            facts=json.dumps(facts),
            status=status,
            reason=reason,
            next_attempt_at=now if status == RECEIVED else None,
        )
        recorded = self._insert(row)
        if recorded is not None:
            return recorded, True
        with Session(self._engine) as session:
            first = session.exec(
                select(WebhookEventRow).where(
                    WebhookEventRow.tenant_id == tenant_id,
                    WebhookEventRow.delivery_id == row.delivery_id,
                )
            ).one()
            return self._value(first), False

    def claim_due(self, now: datetime, limit: int = 20) -> list[WebhookEvent]:
        return self._claim(now, lease=LEASE, candidates=limit, take=limit)

    def finish(self, event_id: int, status: str, reason: str) -> None:
        self._set(event_id, {"status": status, "reason": reason, "next_attempt_at": None})

    def postpone(self, event_id: int, reason: str, retry_at: datetime) -> None:
        self._set(event_id, {"status": RETRY, "reason": reason, "next_attempt_at": retry_at})

    def search(
        self,
        tenant_id: int,
        *,
        status: str | None = None,
        event: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[WebhookEvent]:
        return self._search(tenant_id, limit=limit, before_id=before_id, status=status, event=event)

    def _value(self, row: WebhookEventRow) -> WebhookEvent:
        assert row.id is not None
        return WebhookEvent(
            id=row.id,
            tenant_id=row.tenant_id,
            delivery_id=row.delivery_id,
            event=row.event,
            issue_key=row.issue_key,
            comment_id=row.comment_id,
            facts=json.loads(row.facts),
            status=row.status,
            reason=row.reason,
            attempts=row.attempts,
            next_attempt_at=as_utc_or_none(row.next_attempt_at),
            received_at=as_utc(row.received_at),
            updated_at=as_utc(row.updated_at),
        )


def _short(value: Any, limit: int) -> str | None:
    return None if value in (None, "") else str(value)[:limit]
