"""Microsoft Graph subscriptions of Graph sources: at most one per source (`connector.push`).

The web process reads a row to check a notification (`by_subscription`, `GraphSubscription.
accepts`) and writes what it asked for (`mark`: poll soon, reauthorize, resubscribe); the
worker that holds the row's claim (`claim`, like the IDLE claim on `mail_sources`) creates,
renews and deletes the subscription at Graph and takes the marks (`take_notified`). Only a
hash of the clientState is kept: a leaked database does not let anyone forge notifications.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete as sql_delete
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from connector.storage.claims import ClaimColumns, claim_rows
from connector.storage.models import GraphSubscriptionRow
from connector.storage.times import as_utc_or_none, utc_now

_CLAIM = ClaimColumns(
    GraphSubscriptionRow,
    col(GraphSubscriptionRow.source_id),
    col(GraphSubscriptionRow.owner),
    col(GraphSubscriptionRow.owner_expires_at),
)
REAUTHORIZE = "reauthorize"
RESUBSCRIBE = "resubscribe"


def client_state_hash(client_state: str) -> str:
    return hashlib.sha256(client_state.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class GraphSubscription:
    source_id: int
    subscription_id: str | None
    client_state_hash: str
    expires_at: datetime | None
    renew_at: datetime | None
    pending: str
    notified_at: datetime | None
    owner: str | None

    def accepts(self, client_state: object) -> bool:
        """The notification's clientState is the one this subscription was created with
        (compared in constant time, as hashes)."""
        if not isinstance(client_state, str) or not self.client_state_hash:
            return False
        return hmac.compare_digest(client_state_hash(client_state), self.client_state_hash)


class GraphSubscriptionRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- the web side --------------------------------------------------------------------

    def by_subscription(self, subscription_id: str) -> GraphSubscription | None:
        with Session(self._engine) as session:
            row = session.exec(
                select(GraphSubscriptionRow).where(
                    GraphSubscriptionRow.subscription_id == subscription_id
                )
            ).first()
            return None if row is None else _to_subscription(row)

    def mark(self, subscription_id: str, *, notified: bool = False, pending: str = "") -> bool:
        """A checked notification: poll the source soon and/or do what a lifecycle event
        asked. False when the subscription is gone meanwhile."""
        values: dict[str, object] = {"updated_at": utc_now()}
        if notified:
            values["notified_at"] = utc_now()
        if pending:
            values["pending"] = pending
        with Session(self._engine) as session:
            result = session.execute(
                update(GraphSubscriptionRow)
                .where(col(GraphSubscriptionRow.subscription_id) == subscription_id)
                .values(**values)
            )
            session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # -- the worker ----------------------------------------------------------------------

    def claim(self, source_ids: Collection[int], owner: str, seconds: float) -> set[int]:
        """Take or renew the right to keep these sources' subscriptions (a row is made for
        a source without one); returns the source ids this owner holds. One conditional
        UPDATE (`connector.storage.claims`), as for idling on `mail_sources`."""
        if not source_ids:
            return set()
        with Session(self._engine) as session:
            have = set(
                session.exec(
                    select(GraphSubscriptionRow.source_id).where(
                        col(GraphSubscriptionRow.source_id).in_(list(source_ids))
                    )
                ).all()
            )
        for source_id in set(source_ids) - have:
            try:
                with Session(self._engine) as session:
                    session.add(GraphSubscriptionRow(source_id=source_id))
                    session.commit()
            except IntegrityError:
                pass  # another worker made it meanwhile (or the source was just deleted)
        return claim_rows(self._engine, _CLAIM, source_ids, owner, seconds)

    def release(self, owner: str) -> None:
        with Session(self._engine) as session:
            session.execute(
                update(GraphSubscriptionRow)
                .where(col(GraphSubscriptionRow.owner) == owner)
                .values(owner=None, owner_expires_at=None)
            )
            session.commit()

    def all(self) -> list[GraphSubscription]:
        with Session(self._engine) as session:
            rows = session.exec(
                select(GraphSubscriptionRow).order_by(col(GraphSubscriptionRow.source_id))
            ).all()
            return [_to_subscription(row) for row in rows]

    def get(self, source_id: int) -> GraphSubscription | None:
        with Session(self._engine) as session:
            row = _row(session, source_id)
            return None if row is None else _to_subscription(row)

    def subscribed(
        self,
        source_id: int,
        *,
        subscription_id: str,
        client_state_hash: str,
        expires_at: datetime,
        renew_at: datetime,
    ) -> None:
        """Graph accepted a new subscription: whatever was asked of the old one is done."""
        self._set(
            source_id,
            subscription_id=subscription_id,
            client_state_hash=client_state_hash,
            expires_at=expires_at,
            renew_at=renew_at,
            pending="",
        )

    def renewed(self, source_id: int, *, expires_at: datetime, renew_at: datetime) -> None:
        """A PATCH of the expiry succeeded: it reauthorizes as well (lifecycle events)."""
        with Session(self._engine) as session:
            session.execute(
                update(GraphSubscriptionRow)
                .where(col(GraphSubscriptionRow.source_id) == source_id)
                .values(
                    expires_at=expires_at,
                    renew_at=renew_at,
                    updated_at=utc_now(),
                    pending="",
                )
                .where(col(GraphSubscriptionRow.pending) != RESUBSCRIBE)
            )
            session.commit()

    def unsubscribed(self, source_id: int) -> None:
        """Graph no longer has the subscription: notifications for it are refused from now."""
        self._set(
            source_id,
            subscription_id=None,
            client_state_hash="",
            expires_at=None,
            renew_at=None,
            pending="",
        )

    def remove(self, source_id: int) -> None:
        with Session(self._engine) as session:
            session.execute(
                sql_delete(GraphSubscriptionRow).where(
                    col(GraphSubscriptionRow.source_id) == source_id
                )
            )
            session.commit()

    def take_notified(self, owner: str) -> list[int]:
        """The sources of this owner's subscriptions notified since the last call; each
        mark is taken once (compare-and-set), so a notification arriving meanwhile stays."""
        taken: list[int] = []
        with Session(self._engine) as session:
            rows = session.exec(
                select(GraphSubscriptionRow.source_id, GraphSubscriptionRow.notified_at).where(
                    col(GraphSubscriptionRow.owner) == owner,
                    col(GraphSubscriptionRow.notified_at).is_not(None),
                )
            ).all()
            for source_id, notified_at in rows:
                result = session.execute(
                    update(GraphSubscriptionRow)
                    .where(
                        col(GraphSubscriptionRow.source_id) == source_id,
                        col(GraphSubscriptionRow.notified_at) == notified_at,
                    )
                    .values(notified_at=None)
                )
                if result.rowcount:  # type: ignore[attr-defined]
                    taken.append(source_id)
            session.commit()
        return taken

    def _set(self, source_id: int, **values: object) -> None:
        with Session(self._engine) as session:
            session.execute(
                update(GraphSubscriptionRow)
                .where(col(GraphSubscriptionRow.source_id) == source_id)
                .values(**values, updated_at=utc_now())
            )
            session.commit()


def _row(session: Session, source_id: int) -> GraphSubscriptionRow | None:
    return session.exec(
        select(GraphSubscriptionRow).where(GraphSubscriptionRow.source_id == source_id)
    ).first()


def _to_subscription(row: GraphSubscriptionRow) -> GraphSubscription:
    return GraphSubscription(
        source_id=row.source_id,
        subscription_id=row.subscription_id,
        client_state_hash=row.client_state_hash,
        expires_at=as_utc_or_none(row.expires_at),
        renew_at=as_utc_or_none(row.renew_at),
        pending=row.pending,
        notified_at=as_utc_or_none(row.notified_at),
        owner=row.owner,
    )
