"""A work queue kept in a table: rows wait for their `next_attempt_at`, a worker claims one under
a lease, and it ends in a final status or waits again (`connector.retry` says when).

The outgoing mail (`connector.storage.outbox`) and the Jira webhook events
(`connector.storage.webhook_events`) are such queues; each table has `id`, `tenant_id`,
`status`, `attempts`, `next_attempt_at` and `updated_at`, and the lease is kept in a column the
queue names.

Workers claim with one conditional UPDATE per row (`WHERE id = :id AND <still due>`), so two
worker processes never both hold a row: whoever updates first wins, the other tries the next
candidate. A claim sets the lease's expiry; a worker that dies holding a row leaves a lease that
expires, and the row is due again. The expiry doubles as the claim's token: a new claim is only
possible once the old lease has expired, and sets a later expiry, so the value identifies one
claim (`WHERE id = :id AND <lease column> = :mine`) with no extra column.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from connector.storage.paging import newest_first
from connector.storage.times import utc_now

RowT = TypeVar("RowT", bound=SQLModel)
ItemT = TypeVar("ItemT")


class RetryQueue(ABC, Generic[RowT, ItemT]):
    """The queue over `row`'s table. Rows whose status is one of `waiting` are due at their
    `next_attempt_at`; a claimed row has status `working` and its lease's expiry in
    `lease_column`, and is due again once that has passed. Claims take the due rows ordered by
    the columns `claim_order`. Subclasses turn a row into their value (`_value`)."""

    def __init__(
        self,
        engine: Engine,
        row: type[RowT],
        *,
        waiting: tuple[str, ...],
        working: str,
        lease_column: str,
        claim_order: tuple[str, ...] = ("id",),
    ) -> None:
        self._engine = engine
        self._row = row
        self._waiting = waiting
        self._working = working
        self._lease_column = lease_column
        self._claim_order = claim_order

    @abstractmethod
    def _value(self, row: RowT) -> ItemT:
        """The row as the queue's callers see it."""

    def get(self, tenant_id: int, item_id: int) -> ItemT | None:
        with Session(self._engine) as session:
            row = session.get(self._row, item_id)
            if row is None or getattr(row, "tenant_id") != tenant_id:  # noqa: B009 - any table
                return None
            return self._value(row)

    # -- for the queues built on this one ------------------------------------------------

    def _insert(self, row: RowT) -> ItemT | None:
        """Add `row`; None when a unique constraint says it is there already."""
        with Session(self._engine) as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return None
            session.refresh(row)
            return self._value(row)

    def _claim(
        self,
        now: datetime,
        *,
        lease: timedelta,
        candidates: int,
        take: int,
        skip_tenants: Collection[int] = (),
    ) -> list[ItemT]:
        """Claim up to `take` of the first `candidates` due rows for `lease`, counting an
        attempt for each; rows of `skip_tenants` are left for later."""
        query = select(self._column("id")).where(self._due(now))
        if skip_tenants:
            query = query.where(self._column("tenant_id").not_in(list(skip_tenants)))
        query = query.order_by(*(self._column(name) for name in self._claim_order))
        with Session(self._engine) as session:
            ids = session.exec(query.limit(candidates)).all()
        claimed: list[ItemT] = []
        for row_id in ids:  # another worker may take a candidate first: try the next
            if len(claimed) == take:
                break
            item = self._claim_id(row_id, now, lease=lease)
            if item is not None:
                claimed.append(item)
        return claimed

    def _claim_id(self, row_id: int, now: datetime, *, lease: timedelta) -> ItemT | None:
        """Claim the row for `lease`, counting an attempt, if it is due; None when it is not
        (not yet, final, or another worker holds it)."""
        with Session(self._engine) as session:
            result = session.execute(
                update(self._row)
                .where(self._column("id") == row_id, self._due(now))
                .values(
                    {
                        "status": self._working,
                        self._lease_column: now + lease,
                        "attempts": self._column("attempts") + 1,
                        "updated_at": now,
                    }
                )
            )
            session.commit()
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.get(self._row, row_id)
            return None if row is None else self._value(row)

    def _due_ids(self, now: datetime, limit: int) -> list[tuple[int, int]]:
        """(id, tenant_id) of the first `limit` due rows, in claim order."""
        query = (
            select(self._column("id"), self._column("tenant_id"))
            .where(self._due(now))
            .order_by(*(self._column(name) for name in self._claim_order))
            .limit(limit)
        )
        with Session(self._engine) as session:
            return [(int(row_id), int(tenant_id)) for row_id, tenant_id in session.exec(query)]

    def _renew(
        self, item_id: int, token: datetime, now: datetime, lease: timedelta
    ) -> datetime | None:
        """Extend the claim `token` on a row to `now + lease`; None when the claim is no longer
        ours (it expired and another worker claimed the row)."""
        expires = now + lease
        if not self._set(item_id, {self._lease_column: expires, "updated_at": now}, token=token):
            return None
        return expires

    def _set(self, item_id: int, values: dict[str, Any], *, token: datetime | None = None) -> bool:
        """Write `values` to the row (and `updated_at`, unless given); with `token`, only while
        that claim still holds it. False when nothing was written."""
        where = [self._column("id") == item_id]
        if token is not None:
            where += [
                self._column("status") == self._working,
                self._column(self._lease_column) == token,
            ]
        with Session(self._engine) as session:
            result = session.execute(
                update(self._row).where(*where).values({"updated_at": utc_now(), **values})
            )
            session.commit()
            return int(result.rowcount) == 1  # type: ignore[attr-defined]

    def _search(
        self, tenant_id: int, *, limit: int, before_id: int | None, **equal: Any
    ) -> list[ItemT]:
        query = newest_first(self._row, tenant_id, limit=limit, before_id=before_id, **equal)
        with Session(self._engine) as session:
            return [self._value(row) for row in session.exec(query).all()]

    # -- plumbing ------------------------------------------------------------------------

    def _column(self, name: str) -> Any:
        return col(getattr(self._row, name))

    def _due(self, now: datetime) -> ColumnElement[bool]:
        """Waiting and its time has come, or claimed by a worker whose lease has run out."""
        status = self._column("status")
        expired = (status == self._working) & (self._column(self._lease_column) < now)
        return and_(or_(status.in_(self._waiting), expired), self._column("next_attempt_at") <= now)
