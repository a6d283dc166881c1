"""The email log: one row per message fetched, written before Jira is called.

It is the exactly-once ledger (DESIGN.md, "Processing rules"): a message's row is created the
first time it is seen at its place in the mailbox (`source_id`, `message_key`) and reaches a
final outcome exactly once. A message found again after a crash finds its row and continues
from it instead of starting over.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, tzinfo
from typing import Any

from sqlalchemy import Text, bindparam, func, literal, or_, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlmodel import Session, col, select

from connector.outcomes import FINAL_OUTCOMES, Outcome
from connector.storage.db import Write, built_for, conflict_insert
from connector.storage.email_log_filters import LogFilters
from connector.storage.models import EmailLogRow
from connector.storage.paging import newest_first
from connector.storage.secrets import SecretBox
from connector.storage.times import as_utc, as_utc_or_none, utc_now

# Put before the failure reason when an admin asks for a retry.
RETRY_REASON = "retry asked for by an admin; it had failed: "
# The outcomes of messages that are in an issue: what the per-sender rate limit counts.
REACHED_JIRA = tuple(outcome for outcome in Outcome if outcome.reached_jira)
_TABLE = EmailLogRow.__table__  # type: ignore[attr-defined]
_FROM_SENDER = (
    select(func.count())
    .select_from(_TABLE)
    .where(
        _TABLE.c.tenant_id == bindparam("tenant_id"),
        _TABLE.c.sender == bindparam("sender"),
        _TABLE.c.outcome.in_(REACHED_JIRA),
        _TABLE.c.received_at >= bindparam("since"),
    )
)

_AT_POSITION = select(_TABLE).where(
    _TABLE.c.source_id == bindparam("source_id"), _TABLE.c.message_key == bindparam("message_key")
)
_START_ATTEMPT = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("entry_id"))
    .values(attempts=_TABLE.c.attempts + 1, next_attempt_at=None, updated_at=bindparam("now"))
    .returning(_TABLE.c.attempts)
)
# A new row's values besides those `begin` is given: the model's defaults, taken once.
_NEW_ROW = EmailLogRow(tenant_id=0, source_id=0, message_key="").model_dump(
    exclude={"id", "tenant_id", "source_id", "message_key", "size", "received_at", "updated_at"}
)
_UPDATES: dict[tuple[str, ...], Any] = {}


def _new_row(connection: Connection) -> Any:
    columns = [*_NEW_ROW, "tenant_id", "source_id", "message_key", "size"]
    columns += ["received_at", "updated_at"]
    return (
        conflict_insert(connection, _TABLE)
        .values({name: bindparam(name, type_=_TABLE.c[name].type) for name in columns})
        .on_conflict_do_nothing()
        .returning(*_TABLE.c)
    )


@dataclass(frozen=True)
class LogEntry:
    id: int
    tenant_id: int
    source_id: int
    message_key: str
    message_id: str | None
    message_id_digest: str | None
    sender: str
    sender_name: str
    subject: str
    size: int
    outcome: Outcome
    reason: str
    issue_key: str | None
    comment_id: str | None
    attempts: int
    next_attempt_at: datetime | None
    trail: tuple[str, ...]
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    received_at: datetime
    updated_at: datetime
    # Which header and address rule decided where the message went (connector.pipeline.routes); None
    # before it was routed.
    route: Mapping[str, Any] | None = None
    # An admin asked to process it though it was ignored (`email_log_filters.process_anyway`).
    process_anyway: bool = False
    # Queued for delivery as a job of its own, under this lock (connector.storage.deliveries).
    thread_key: str | None = None

    @property
    def final(self) -> bool:
        return self.outcome.final


class EmailLog:
    def __init__(self, engine: Engine, secrets: SecretBox) -> None:
        self._engine = engine
        self._secrets = secrets

    def begin(self, tenant_id: int, source_id: int, message_key: str, *, size: int) -> LogEntry:
        """The row for this message, created as pending if it is the first time we see it.

        Core statements built once: it runs for every message. The new row is an insert that
        does nothing when the message was recorded before (by an earlier poll, or by another
        worker at the same moment) and comes back whole (RETURNING): one statement for new
        mail; only a message seen before is then read."""
        now = utc_now()
        values = {
            **_NEW_ROW,
            "tenant_id": tenant_id,
            "source_id": source_id,
            "message_key": message_key,
            "size": size,
            "received_at": now,
            "updated_at": now,
        }
        with self._engine.begin() as connection:
            row = (
                connection.execute(built_for(connection, _new_row), values).first()
                or connection.execute(_AT_POSITION, values).first()
            )
            if row is None:
                raise LookupError(f"email log row of {message_key!r} vanished")
            return log_entry(row)

    def describe(
        self,
        entry_id: int,
        *,
        message_id: str | None,
        digest: str | None,
        sender: str,
        sender_name: str,
        subject: str,
        headers: Sequence[tuple[str, str]],
        raw: bytes | None,
        route: Mapping[str, Any] | None = None,
    ) -> None:
        """What the message is, once parsed; `raw` is kept encrypted so a retry needs no
        mailbox (the mailbox's post-action may have moved it). `route`, when known, is
        recorded in the same statement (as `record_route` would)."""
        values: dict[str, object] = {
            "message_id": message_id,
            "message_id_digest": digest,
            "sender": sender[:320],
            "sender_name": sender_name[:255],
            "subject": subject,
            "headers": json.dumps([list(pair) for pair in headers]),
            "raw_encrypted": None if raw is None else self._encrypt_bytes(raw),
            "updated_at": utc_now(),
        }
        if route is not None:
            values["route"] = json.dumps(dict(route))
        self._update(entry_id, values)

    def record_route(self, entry_id: int, route: Mapping[str, Any]) -> None:
        """Where this attempt routed the message; rules may change between attempts."""
        self._update(entry_id, {"route": json.dumps(dict(route)), "updated_at": utc_now()})

    def start_attempt(self, entry_id: int) -> int:
        """Count an attempt (one UPDATE that returns the new count)."""
        # While an attempt runs nothing is scheduled: an attempt that ends either finishes
        # or postpones (which schedules again), so a pending row with attempts and no
        # schedule is one whose attempt was cut short (connector.pipeline relies on it).
        with self._engine.begin() as connection:
            attempts = connection.execute(
                _START_ATTEMPT, {"entry_id": entry_id, "now": utc_now()}
            ).scalar_one_or_none()
        if attempts is None:
            raise LookupError(f"email log entry {entry_id} vanished")
        return int(attempts)

    def finish(
        self,
        entry_id: int,
        outcome: Outcome,
        reason: str,
        *,
        issue_key: str | None = None,
        comment_id: str | None = None,
        trail: Sequence[str] = (),
        also: Write | None = None,
    ) -> None:
        """The message's final outcome; `also` (another repository's writes, such as the
        participants of its issue) commits in the same transaction."""
        if outcome not in FINAL_OUTCOMES:
            raise ValueError(f"{outcome!r} is not a final outcome")
        self._update(
            entry_id,
            {
                "outcome": outcome,
                "reason": reason,
                "issue_key": issue_key,
                "comment_id": comment_id,
                "trail": json.dumps(list(trail)),
                "next_attempt_at": None,
                "updated_at": utc_now(),
            },
            also=also,
        )

    def postpone(
        self, entry_id: int, reason: str, next_attempt_at: datetime, trail: Sequence[str] = ()
    ) -> None:
        self._update(
            entry_id,
            {
                "reason": reason,
                "next_attempt_at": next_attempt_at,
                "trail": json.dumps(list(trail)),
                "updated_at": utc_now(),
            },
        )

    def get(self, tenant_id: int, entry_id: int) -> LogEntry | None:
        with Session(self._engine) as session:
            row = session.get(EmailLogRow, entry_id)
            return log_entry(row) if row is not None and row.tenant_id == tenant_id else None

    def raw(self, tenant_id: int, entry_id: int) -> bytes | None:
        with Session(self._engine) as session:
            row = session.get(EmailLogRow, entry_id)
            if row is None or row.tenant_id != tenant_id or row.raw_encrypted is None:
                return None
            return self._secrets.decrypt(row.raw_encrypted).encode("latin-1")

    def reopen(self, tenant_id: int, entry_id: int) -> LogEntry | None:
        """Make a failed message pending again for a retry (admin action); None when it is
        absent, not failed, or its stored copy is gone.

        One conditional UPDATE, because the retention purge may forget the copy at any moment
        between a check and a write: a pending entry without its copy would never finish (the
        worker retries from the copy, and the purge skips pending entries).
        """
        with Session(self._engine) as session:
            result = session.execute(
                update(EmailLogRow)
                .where(
                    col(EmailLogRow.id) == entry_id,
                    col(EmailLogRow.tenant_id) == tenant_id,
                    col(EmailLogRow.outcome) == Outcome.FAILED,
                    col(EmailLogRow.raw_encrypted).is_not(None),
                )
                .values(
                    outcome=Outcome.PENDING,
                    attempts=0,
                    next_attempt_at=None,
                    # The failure stays readable, marked as the past until the retry ends.
                    reason=literal(RETRY_REASON, Text) + col(EmailLogRow.reason),
                    updated_at=utc_now(),
                )
            )
            session.commit()
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
        return self.get(tenant_id, entry_id)

    def search(
        self,
        tenant_id: int,
        *,
        source_id: int | None = None,
        outcome: Outcome | None = None,
        text: str = "",
        limit: int = 50,
        before_id: int | None = None,
        filters: LogFilters | None = None,
    ) -> list[LogEntry]:
        """Newest first; `text` matches sender, subject, reason and issue key."""
        conditions = filters.conditions() if filters is not None else []
        if text.strip():
            pattern = f"%{text.strip().lower()}%"
            searched = (
                col(EmailLogRow.sender),
                col(EmailLogRow.subject),
                col(EmailLogRow.reason),
                col(EmailLogRow.issue_key),
            )
            conditions.append(or_(*(column.ilike(pattern) for column in searched)))
        query = newest_first(
            EmailLogRow,
            tenant_id,
            limit=limit,
            before_id=before_id,
            conditions=conditions,
            source_id=source_id,
            outcome=outcome,
        )
        with Session(self._engine) as session:
            rows = session.exec(query)
            return [log_entry(row) for row in rows.all()]

    def pending_retries(self, source_id: int, now: datetime) -> list[LogEntry]:
        """Messages of a source waiting for another attempt whose time has come."""
        with Session(self._engine) as session:
            rows = session.exec(
                select(EmailLogRow)
                .where(
                    EmailLogRow.source_id == source_id,
                    EmailLogRow.outcome == Outcome.PENDING,
                    col(EmailLogRow.raw_encrypted).is_not(None),
                    or_(
                        col(EmailLogRow.next_attempt_at).is_(None),
                        col(EmailLogRow.next_attempt_at) <= now,
                    ),
                    # Not while a delivery holds it (connector.storage.deliveries).
                    or_(
                        col(EmailLogRow.claimed_until).is_(None),
                        col(EmailLogRow.claimed_until) <= now,
                    ),
                )
                .order_by(col(EmailLogRow.id))
            ).all()
            return [log_entry(row) for row in rows]

    def count_from_sender(self, tenant_id: int, sender: str, since: datetime) -> int:
        """Messages from this address since then that reached Jira: the loop brake's input
        (index ix_email_log_sender_recent; the statement is built once)."""
        values = {"tenant_id": tenant_id, "sender": sender, "since": since}
        with self._engine.connect() as connection:
            return int(connection.execute(_FROM_SENDER, values).scalar_one())

    def issue_mail(self, tenant_id: int, issue_key: str) -> list[LogEntry]:
        """The messages that created an issue or commented on it, oldest first."""
        with Session(self._engine) as session:
            rows = session.exec(
                select(EmailLogRow)
                .where(
                    EmailLogRow.tenant_id == tenant_id,
                    EmailLogRow.issue_key == issue_key,
                    col(EmailLogRow.outcome).in_(REACHED_JIRA),
                )
                .order_by(col(EmailLogRow.received_at), col(EmailLogRow.id))
            ).all()
            return [log_entry(row) for row in rows]

    def messages_today(
        self, tenant_id: int, now: datetime | None = None, zone: tzinfo = UTC
    ) -> dict[int, int]:
        """Rows per source since 00:00 today where the admin is (`zone`, the Jira user's
        time zone; UTC by default): every message fetched has one."""
        local = (now or datetime.now(UTC)).astimezone(zone)
        start = datetime.combine(local.date(), time(), zone).astimezone(UTC)
        with Session(self._engine) as session:
            rows = session.exec(
                select(EmailLogRow.source_id, func.count())
                .where(EmailLogRow.tenant_id == tenant_id, col(EmailLogRow.received_at) >= start)
                .group_by(col(EmailLogRow.source_id))
            ).all()
            return {int(source_id): int(count) for source_id, count in rows}

    def purge_content(self, tenant_id: int, before: datetime) -> int:
        """Forget the stored copies of messages received before `before` that reached a final
        outcome (a message waiting for a retry needs its copy); the rows stay."""
        with Session(self._engine) as session:
            result = session.execute(
                update(EmailLogRow)
                .where(
                    col(EmailLogRow.tenant_id) == tenant_id,
                    col(EmailLogRow.raw_encrypted).is_not(None),
                    col(EmailLogRow.outcome) != Outcome.PENDING,
                    col(EmailLogRow.received_at) <= before,
                )
                .values(raw_encrypted=None)
            )
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]

    def _update(
        self, entry_id: int, values: Mapping[str, object], also: Write | None = None
    ) -> None:
        # Core, not an ORM session: these run several times for every message, and the ORM's
        # bulk update (with its session synchronisation) costs several times the statement.
        # One statement per set of columns, built once: only the values change.
        columns = tuple(values)
        statement = _UPDATES.get(columns)
        if statement is None:
            statement = _UPDATES[columns] = (
                update(_TABLE)
                .where(_TABLE.c.id == bindparam("entry_id"))
                .values({name: bindparam(f"new_{name}") for name in columns})
            )
        bound = {f"new_{name}": value for name, value in values.items()}
        with self._engine.begin() as connection:
            if also is not None:
                also(connection)
            connection.execute(statement, {**bound, "entry_id": entry_id})

    def _encrypt_bytes(self, raw: bytes) -> str:
        # Fernet takes text here; latin-1 maps every byte to one character and back exactly.
        return self._secrets.encrypt(raw.decode("latin-1"))


def log_entry(row: EmailLogRow | Row[Any]) -> LogEntry:
    if row.id is None:
        raise LookupError("email log row has no id yet")
    return LogEntry(
        id=row.id,
        tenant_id=row.tenant_id,
        source_id=row.source_id,
        message_key=row.message_key,
        message_id=row.message_id,
        message_id_digest=row.message_id_digest,
        sender=row.sender,
        sender_name=row.sender_name,
        subject=row.subject,
        size=row.size,
        outcome=Outcome(row.outcome),
        reason=row.reason,
        issue_key=row.issue_key,
        comment_id=row.comment_id,
        attempts=row.attempts,
        next_attempt_at=as_utc_or_none(row.next_attempt_at),
        trail=tuple(json.loads(row.trail)),
        headers=tuple((str(k), str(v)) for k, v in json.loads(row.headers)),
        received_at=as_utc(row.received_at),
        updated_at=as_utc(row.updated_at),
        route=json.loads(row.route) if row.route else None,
        process_anyway=row.process_anyway,
        thread_key=row.thread_key,
    )
