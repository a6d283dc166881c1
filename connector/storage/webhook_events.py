"""Every verified Jira webhook and what became of it: the audit list and the work queue.

`received` events wait for the worker; it claims one (`working`) and ends it `handled`,
`ignored` (with the reason) or `failed`, or postpones it (`retry`) when Jira or the database
could not answer. Jira's delivery id (`X-Atlassian-Webhook-Identifier`) is unique per
tenant, so a redelivered webhook is recorded once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from connector.storage.models import WebhookEventRow, as_utc, as_utc_or_none, utc_now
from connector.storage.paging import newest_first

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


class WebhookEvents:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

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
        with Session(self._engine) as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                first = session.exec(
                    select(WebhookEventRow).where(
                        WebhookEventRow.tenant_id == tenant_id,
                        WebhookEventRow.delivery_id == row.delivery_id,
                    )
                ).one()
                return _event(first), False
            session.refresh(row)
            return _event(row), True

    def claim_due(self, now: datetime, limit: int = 20) -> list[WebhookEvent]:
        with Session(self._engine) as session:
            ids = session.exec(
                select(WebhookEventRow.id)
                .where(
                    col(WebhookEventRow.status).in_((RECEIVED, RETRY, WORKING)),
                    col(WebhookEventRow.next_attempt_at) <= now,
                )
                .order_by(col(WebhookEventRow.id))
                .limit(limit)
            ).all()
        claimed = []
        for row_id in ids:
            with Session(self._engine) as session:
                result = session.execute(
                    update(WebhookEventRow)
                    .where(
                        col(WebhookEventRow.id) == row_id,
                        col(WebhookEventRow.next_attempt_at) <= now,
                        col(WebhookEventRow.status).in_((RECEIVED, RETRY, WORKING)),
                    )
                    .values(
                        status=WORKING,
                        # A worker that dies holding it leaves it due again after the lease.
                        next_attempt_at=now + LEASE,
                        attempts=WebhookEventRow.attempts + 1,
                        updated_at=now,
                    )
                )
                session.commit()
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    row = session.get(WebhookEventRow, row_id)
                    if row is not None:
                        claimed.append(_event(row))
        return claimed

    def finish(self, event_id: int, status: str, reason: str) -> None:
        self._set(event_id, status=status, reason=reason, next_attempt_at=None)

    def postpone(self, event_id: int, reason: str, retry_at: datetime) -> None:
        self._set(event_id, status=RETRY, reason=reason, next_attempt_at=retry_at)

    def get(self, tenant_id: int, event_id: int) -> WebhookEvent | None:
        with Session(self._engine) as session:
            row = session.get(WebhookEventRow, event_id)
            return None if row is None or row.tenant_id != tenant_id else _event(row)

    def search(
        self,
        tenant_id: int,
        *,
        status: str | None = None,
        event: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[WebhookEvent]:
        query = newest_first(
            WebhookEventRow, tenant_id, limit=limit, before_id=before_id, status=status, event=event
        )
        with Session(self._engine) as session:
            return [_event(row) for row in session.exec(query).all()]

    def _set(self, event_id: int, **values: Any) -> None:
        with Session(self._engine) as session:
            session.execute(
                update(WebhookEventRow)
                .where(col(WebhookEventRow.id) == event_id)
                .values(updated_at=utc_now(), **values)
            )
            session.commit()


def _short(value: Any, limit: int) -> str | None:
    return None if value in (None, "") else str(value)[:limit]


def _event(row: WebhookEventRow) -> WebhookEvent:
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
