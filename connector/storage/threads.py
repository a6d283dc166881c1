"""Which issue a Message-ID belongs to, and who took part in each issue."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from connector.storage.models import ParticipantRow, ThreadMessageRow, as_utc, utc_now


class ThreadRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def remember(self, tenant_id: int, digest: str, issue_key: str, origin: str) -> None:
        """Record that this Message-ID belongs to the issue; the first record wins."""
        with Session(self._engine) as session:
            session.add(
                ThreadMessageRow(
                    tenant_id=tenant_id,
                    message_id_digest=digest,
                    issue_key=issue_key,
                    origin=origin,
                )
            )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()

    def lookup(self, tenant_id: int, digests: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(digests))
        if not wanted:
            return {}
        with Session(self._engine) as session:
            rows = session.exec(
                select(ThreadMessageRow).where(
                    ThreadMessageRow.tenant_id == tenant_id,
                    col(ThreadMessageRow.message_id_digest).in_(wanted),
                )
            ).all()
            return {row.message_id_digest: row.issue_key for row in rows}


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
        """Add or refresh each address on the issue (a sender stays a sender once seen so).

        Two messages on one issue may be recorded at once; the loser of the insert race
        simply retries against the winner's rows.
        """
        for attempt in range(3):
            try:
                self._record(tenant_id, issue_key, people)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def _record(self, tenant_id: int, issue_key: str, people: Sequence[Participant]) -> None:
        now = utc_now()
        with Session(self._engine) as session:
            existing: dict[str, ParticipantRow] = {
                row.address: row
                for row in session.exec(
                    select(ParticipantRow).where(
                        ParticipantRow.tenant_id == tenant_id,
                        ParticipantRow.issue_key == issue_key,
                    )
                ).all()
            }
            for person in people:
                address = person.address.strip()
                if not address:
                    continue
                row = existing.get(address)
                if row is None:
                    row = ParticipantRow(
                        tenant_id=tenant_id,
                        issue_key=issue_key,
                        address=address,
                        name=person.name,
                        role=person.role,
                        jira_account_id=person.jira_account_id,
                    )
                    existing[address] = row
                else:
                    row.last_seen = now
                    row.name = person.name or row.name
                    row.jira_account_id = person.jira_account_id or row.jira_account_id
                    if person.role == "sender":
                        row.role = "sender"
                session.add(row)
            session.commit()

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
