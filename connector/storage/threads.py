"""Which issue a Message-ID belongs to, and who took part in each issue."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from connector.storage.db import Write, built_for, conflict_insert
from connector.storage.models import ParticipantRow, ThreadMessageRow
from connector.storage.times import as_utc, utc_now


class ThreadRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def remember(self, tenant_id: int, digest: str, issue_key: str, origin: str) -> None:
        """Record that this Message-ID belongs to the issue; the first record wins (an insert
        that does nothing when the Message-ID is already known)."""
        values = {
            "tenant_id": tenant_id,
            "message_id_digest": digest,
            "issue_key": issue_key,
            "origin": origin,
            "created_at": utc_now(),
        }
        with self._engine.begin() as connection:
            connection.execute(built_for(connection, _remember), values)

    def lookup(self, tenant_id: int, digests: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(digests))
        if not wanted:
            return {}
        with self._engine.connect() as connection:
            rows = connection.execute(_LOOKUP, {"tenant_id": tenant_id, "digests": wanted})
            return {row.message_id_digest: row.issue_key for row in rows}


_THREADS = ThreadMessageRow.__table__  # type: ignore[attr-defined]
_PARTICIPANTS = ParticipantRow.__table__  # type: ignore[attr-defined]
# The statements every message makes, built once (Core: only their values change).
_LOOKUP = core_select(_THREADS.c.message_id_digest, _THREADS.c.issue_key).where(
    _THREADS.c.tenant_id == bindparam("tenant_id"),
    _THREADS.c.message_id_digest.in_(bindparam("digests", expanding=True)),
)


def _remember(connection: Connection) -> Any:
    columns = ("tenant_id", "message_id_digest", "issue_key", "origin", "created_at")
    return (
        conflict_insert(connection, _THREADS)
        .values({name: bindparam(name, type_=_THREADS.c[name].type) for name in columns})
        .on_conflict_do_nothing()
    )


def _record_participant(connection: Connection) -> Any:
    """Add a participant, or refresh the row already there (see `ParticipantRepository`)."""
    columns = [*("tenant_id", "issue_key", "address", "name", "role", "jira_account_id")]
    columns += ["first_seen", "last_seen"]
    statement = conflict_insert(connection, _PARTICIPANTS).values(
        {name: bindparam(name, type_=_PARTICIPANTS.c[name].type) for name in columns}
    )
    new, old = statement.excluded, _PARTICIPANTS.c
    return statement.on_conflict_do_update(
        index_elements=[old.tenant_id, old.issue_key, old.address],
        set_={
            "last_seen": new.last_seen,
            "name": func.coalesce(func.nullif(new.name, ""), old.name),
            "jira_account_id": func.coalesce(new.jira_account_id, old.jira_account_id),
            "role": case((new.role == "sender", "sender"), else_=old.role),
        },
    )


@dataclass(frozen=True)
class Participant:
    address: str
    name: str
    role: str  # sender | cc
    jira_account_id: str | None = None


@dataclass(frozen=True)
class ParticipantRecord:
    issue_key: str
    address: str
    name: str
    role: str
    jira_account_id: str | None
    first_seen: datetime
    last_seen: datetime


class ParticipantRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, tenant_id: int, issue_key: str, people: Sequence[Participant]) -> None:
        """Add or refresh each address on the issue (see `recording`), in a transaction of
        its own."""
        with self._engine.begin() as connection:
            self.recording(tenant_id, issue_key, people)(connection)

    def recording(self, tenant_id: int, issue_key: str, people: Sequence[Participant]) -> Write:
        """The write that adds or refreshes each address on the issue (a sender stays a sender
        once seen so), for a transaction of the caller's: the pipeline records them with the
        message's final log row (`EmailLog.finish`), in one commit.

        One statement (run for each address), an insert that updates the row already there
        ("upsert", SQLite and PostgreSQL alike), so two messages on one issue recorded at once
        need no retry: the second one's insert becomes an update of the first one's row.
        """
        merged: dict[str, Participant] = {}
        for person in people:
            address = person.address.strip()
            if not address:
                continue
            earlier = merged.get(address)
            if earlier is not None:  # the same address twice in one message (From and Cc)
                person = Participant(
                    address,
                    earlier.name or person.name,
                    "sender" if "sender" in (earlier.role, person.role) else person.role,
                    earlier.jira_account_id or person.jira_account_id,
                )
            merged[address] = Participant(address, person.name, person.role, person.jira_account_id)
        now = utc_now()
        rows = [
            {
                "tenant_id": tenant_id,
                "issue_key": issue_key,
                "address": person.address,
                "name": person.name,
                "role": person.role,
                "jira_account_id": person.jira_account_id,
                "first_seen": now,
                "last_seen": now,
            }
            for person in merged.values()
        ]

        def write(connection: Connection) -> None:
            if rows:
                connection.execute(built_for(connection, _record_participant), rows)

        return write

    def for_issue(self, tenant_id: int, issue_key: str) -> list[ParticipantRecord]:
        with Session(self._engine) as session:
            rows = session.exec(
                select(ParticipantRow)
                .where(ParticipantRow.tenant_id == tenant_id, ParticipantRow.issue_key == issue_key)
                .order_by(col(ParticipantRow.id))
            ).all()
            return [
                ParticipantRecord(
                    issue_key=row.issue_key,
                    address=row.address,
                    name=row.name,
                    role=row.role,
                    jira_account_id=row.jira_account_id,
                    first_seen=as_utc(row.first_seen),
                    last_seen=as_utc(row.last_seen),
                )
                for row in rows
            ]
