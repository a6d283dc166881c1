"""Delivery as separate work: the email log's side of it (the queue engine, issue 17).

A fetch records each message (`EmailLog.begin`), stores its bytes encrypted and marks it
queued with the lock its delivery runs under (`queue`); the delivery, a job of its own on any
worker, claims the row (`claim`) so that the message is processed once however often its job
runs, renews the claim while it works (`renew`) and lets go after (`release`). A claim that is
not renewed lapses, so a dead worker's message is taken again within `CLAIM_SECONDS`. Once the
message is final its post-action is owed to the mailbox: the source's next fetch does it
(`owed_post_actions`, `post_actions_done`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.engine import Engine

from connector.outcomes import Outcome
from connector.storage.email_log import LogEntry, log_entry
from connector.storage.models import EmailLogRow
from connector.storage.secrets import SecretBox
from connector.storage.times import as_utc_or_none, utc_now

_TABLE = EmailLogRow.__table__  # type: ignore[attr-defined]
_LOG = _TABLE.c
_PENDING = str(Outcome.PENDING)
_FAILED = str(Outcome.FAILED)


@dataclass(frozen=True)
class Claimed:
    """A message this delivery holds until `until` (renewed), with its stored bytes."""

    entry: LogEntry
    raw: bytes
    until: datetime


@dataclass(frozen=True)
class Standing:
    """Where a message stands when it could not be claimed."""

    final: bool
    claimed_until: datetime | None  # another delivery holds it until then
    next_attempt_at: datetime | None  # postponed until then


@dataclass(frozen=True)
class Earlier:
    """An earlier message of a thread, still in flight."""

    entry_id: int
    lock: str
    source_id: int


@dataclass(frozen=True)
class Owed:
    entry_id: int
    message_key: str
    success: bool


class Deliveries:
    def __init__(self, engine: Engine, secrets: SecretBox) -> None:
        self._engine = engine
        self._secrets = secrets

    # -- the fetch ---------------------------------------------------------------------------

    def queue(
        self, entry_id: int, raw: bytes, *, thread_key: str, order_digest: str | None
    ) -> None:
        """Keep the message's bytes (encrypted, as for a retry) and mark it queued: its
        post-action is owed once it is final."""
        values = {
            "raw_encrypted": self._secrets.encrypt(raw.decode("latin-1")),
            "thread_key": thread_key,
            "order_digest": order_digest,
            "post_action_due": True,
        }
        with self._engine.begin() as connection:
            connection.execute(update(_TABLE).where(_LOG.id == entry_id).values(**values))

    def thread_of(self, tenant_id: int, digests: Iterable[str]) -> str | None:
        """The lock of a message of the tenant with one of these Message-ID digests that is
        queued and not final yet: a reply delivered after it must run under the same lock."""
        wanted = sorted(set(digests))
        if not wanted:
            return None
        query = (
            select(_LOG.thread_key)
            .where(
                _LOG.tenant_id == tenant_id,
                _LOG.order_digest.in_(wanted),
                _LOG.outcome == _PENDING,
                _LOG.thread_key.is_not(None),
                _LOG.next_attempt_at.is_(None),  # a postponed one keeps no order
            )
            .order_by(_LOG.id)
            .limit(1)
        )
        with self._engine.connect() as connection:
            found = connection.execute(query).scalar_one_or_none()
        return None if found is None else str(found)

    def unqueued(self, source_id: int, now: datetime, limit: int = 1000) -> list[tuple[int, str]]:
        """Messages of the source waiting for an attempt whose time has come, that nobody
        holds and that have no delivery job waiting (PostgreSQL and procrastinate's table):
        a retry's time came, a worker died before queueing, or a job was lost. By id, with
        their lock ("" for one never queued)."""
        query = text(
            "SELECT e.id, coalesce(e.thread_key, '') FROM email_log AS e"
            " WHERE e.source_id = :source AND e.outcome = :pending"
            " AND e.raw_encrypted IS NOT NULL"
            " AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= :now)"
            " AND (e.claimed_until IS NULL OR e.claimed_until <= :now)"
            " AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs AS j"
            "  WHERE j.status = 'todo' AND j.queueing_lock = 'deliver-' || e.id::text)"
            " ORDER BY e.id LIMIT :limit"
        )
        values = {"source": source_id, "pending": _PENDING, "now": now, "limit": limit}
        with self._engine.connect() as connection:
            rows = connection.execute(query, values).all()
        return [(int(entry_id), str(key)) for entry_id, key in rows]

    def owed_post_actions(self, source_id: int, limit: int = 1000) -> list[Owed]:
        """Final messages of the source whose post-action the mailbox has not had yet."""
        query = (
            select(_LOG.id, _LOG.message_key, _LOG.outcome)
            .where(
                _LOG.source_id == source_id,
                _LOG.post_action_due.is_(True),
                _LOG.outcome != _PENDING,
            )
            .order_by(_LOG.id)
            .limit(limit)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [Owed(int(i), str(key), str(outcome) != _FAILED) for i, key, outcome in rows]

    def post_actions_done(self, entry_ids: Sequence[int]) -> None:
        """The mailbox has had these messages' post-actions. Their rows count as updated now,
        so the fetch that did it shows them among its messages (`connector.storage.poll_runs`):
        the fetch queued when a source's last delivery ends is otherwise a poll of no new
        mail, and the outcomes just delivered would drop out of the source's latest poll."""
        if not entry_ids:
            return
        with self._engine.begin() as connection:
            connection.execute(
                update(_TABLE)
                .where(_LOG.id.in_(list(entry_ids)), _LOG.post_action_due.is_(True))
                .values(post_action_due=False, updated_at=utc_now())
            )

    def in_flight(self, source_id: int) -> bool:
        """Whether a message of the source is queued and neither final nor postponed."""
        query = (
            select(_LOG.id)
            .where(
                _LOG.source_id == source_id,
                _LOG.outcome == _PENDING,
                _LOG.post_action_due.is_(True),
                _LOG.next_attempt_at.is_(None),
            )
            .limit(1)
        )
        with self._engine.connect() as connection:
            return connection.execute(query).first() is not None

    # -- the delivery ------------------------------------------------------------------------

    def earlier_in_thread(self, entry_id: int, hold_until: datetime) -> Earlier | None:
        """The first message queued before this one in its thread that is not final and not
        postponed past `hold_until`: this one must wait for it."""
        earlier = _TABLE.alias("earlier")
        query = (
            select(earlier.c.id, earlier.c.thread_key, earlier.c.source_id)
            .select_from(_TABLE.join(earlier, earlier.c.thread_key == _LOG.thread_key))
            .where(
                _LOG.id == entry_id,
                earlier.c.id < _LOG.id,
                earlier.c.outcome == _PENDING,
                or_(earlier.c.next_attempt_at.is_(None), earlier.c.next_attempt_at <= hold_until),
            )
            .order_by(earlier.c.id)
            .limit(1)
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else Earlier(int(row[0]), str(row[1]), int(row[2]))

    def claim(self, entry_id: int, now: datetime, until: datetime) -> Claimed | None:
        """Hold the message until `until` if it is pending, due and held by nobody (one
        compare-and-set UPDATE); None otherwise."""
        free = or_(_LOG.claimed_until.is_(None), _LOG.claimed_until <= now)
        due = or_(_LOG.next_attempt_at.is_(None), _LOG.next_attempt_at <= now)
        statement = (
            update(_TABLE)
            .where(
                _LOG.id == entry_id,
                _LOG.outcome == _PENDING,
                _LOG.raw_encrypted.is_not(None),
                and_(free, due),
            )
            .values(claimed_until=until)
            .returning(*_TABLE.c)
        )
        with self._engine.begin() as connection:
            row: Any = connection.execute(statement).first()
        if row is None:
            return None
        raw = self._secrets.decrypt(row.raw_encrypted).encode("latin-1")
        return Claimed(log_entry(row), raw, until)

    def renew(self, entry_id: int, held: datetime, until: datetime) -> bool:
        """Extend our claim; False when it is no longer ours (it lapsed and was taken)."""
        return self._move_claim(entry_id, held, until)

    def release(self, entry_id: int, held: datetime) -> None:
        self._move_claim(entry_id, held, None)

    def standing(self, entry_id: int) -> Standing | None:
        query = select(_LOG.outcome, _LOG.claimed_until, _LOG.next_attempt_at).where(
            _LOG.id == entry_id
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        outcome, claimed_until, next_attempt_at = row
        return Standing(
            Outcome(outcome).final, as_utc_or_none(claimed_until), as_utc_or_none(next_attempt_at)
        )

    def _move_claim(self, entry_id: int, held: datetime, until: datetime | None) -> bool:
        with self._engine.begin() as connection:
            result = connection.execute(
                update(_TABLE)
                .where(_LOG.id == entry_id, _LOG.claimed_until == held)
                .values(claimed_until=until)
            )
        return bool(result.rowcount)
