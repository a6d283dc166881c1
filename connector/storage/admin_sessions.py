"""Sign-in links and browser sessions of the admin pages outside Jira (connector.sites.signin).

Only hashes are stored: neither a printed link nor a session cookie can be read back from the
database. A link is used up in one conditional update, so two browsers racing with the same
link cannot both open a session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete

from connector.storage.models import AdminLinkRow, AdminSessionRow
from connector.storage.times import as_utc, utc_now


@dataclass(frozen=True)
class AdminSession:
    tenant_id: int
    account_id: str


class AdminSessions:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add_link(self, id_hash: str, tenant_id: int, expires_at: datetime) -> None:
        with Session(self._engine) as session:
            session.add(AdminLinkRow(id_hash=id_hash, tenant_id=tenant_id, expires_at=expires_at))
            session.commit()

    def use_link(self, id_hash: str, tenant_id: int) -> bool:
        """Mark the link used; False when it is unknown, used, expired or for another site."""
        now = utc_now()
        statement = (
            update(AdminLinkRow)
            .where(col(AdminLinkRow.id_hash) == id_hash)
            .where(col(AdminLinkRow.tenant_id) == tenant_id)
            .where(col(AdminLinkRow.used_at).is_(None))
            .where(col(AdminLinkRow.expires_at) > now)
            .values(used_at=now)
        )
        with Session(self._engine) as session:
            result = session.exec(statement)
            session.commit()
            return bool(result.rowcount == 1)

    def open(self, id_hash: str, tenant_id: int, account_id: str) -> None:
        with Session(self._engine) as session:
            session.add(
                AdminSessionRow(id_hash=id_hash, tenant_id=tenant_id, account_id=account_id)
            )
            session.commit()

    def touch(self, id_hash: str, *, idle: timedelta, lifetime: timedelta) -> AdminSession | None:
        """The live session, its idle clock restarted; None (and forgotten) once it has been
        idle for `idle` or open for `lifetime`."""
        now = utc_now()
        with Session(self._engine) as session:
            row = session.get(AdminSessionRow, id_hash)
            if row is None:
                return None
            if as_utc(row.last_seen_at) + idle <= now or as_utc(row.created_at) + lifetime <= now:
                session.delete(row)
                session.commit()
                return None
            row.last_seen_at = now
            session.add(row)
            session.commit()
            return AdminSession(row.tenant_id, row.account_id)

    def close(self, id_hash: str) -> None:
        with Session(self._engine) as session:
            session.exec(delete(AdminSessionRow).where(col(AdminSessionRow.id_hash) == id_hash))
            session.commit()
