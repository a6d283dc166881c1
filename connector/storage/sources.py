"""Mail source repository: tenant-scoped CRUD, secrets at rest, poll state and leases.

Every read and write an admin can cause takes the tenant id, so one tenant can never reach
another's source even with a valid token for itself. The worker's methods (`due`, `lease`,
`record_poll`) work across tenants and are not reachable from the admin API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, case, func, literal, null, or_, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.mail_source import MailSource, SourceSpec
from connector.storage.claims import ClaimColumns, claim_rows
from connector.storage.models import EmailLogRow, GraphSubscriptionRow, MailSourceRow
from connector.storage.secrets import SecretBox
from connector.storage.source_rows import (
    oauth_json,
    of_active_tenants,
    row_id,
    source_from_row,
    spec_values,
)
from connector.storage.times import utc_now

OAuthChange = Callable[[dict[str, Any] | None], dict[str, Any] | None]

_PUSH_CLAIM = ClaimColumns(
    MailSourceRow,
    col(MailSourceRow.id),
    col(MailSourceRow.push_owner),
    col(MailSourceRow.push_expires_at),
)


class SourceRepository:
    def __init__(self, engine: Engine, secrets: SecretBox) -> None:
        self._engine = engine
        self._secrets = secrets

    # -- admin (tenant-scoped) -----------------------------------------------------------

    def create(self, tenant_id: int, spec: SourceSpec) -> MailSource:
        row = MailSourceRow.model_validate({"tenant_id": tenant_id, **spec_values(spec)})
        row.password_encrypted = self._secrets.encrypt(spec.password) if spec.password else None
        with Session(self._engine) as session:
            session.add(row)
            session.commit()
            return self._load(session, tenant_id, row_id(row))

    def update(self, tenant_id: int, source_id: int, spec: SourceSpec) -> MailSource | None:
        """Replace the settings; a spec without a password keeps the stored one (write-only)."""
        with Session(self._engine) as session:
            row = _find(session, tenant_id, source_id)
            if row is None:
                return None
            moved = any(
                getattr(row, name) != getattr(spec, name)
                for name in ("protocol", "host", "port", "username", "folder")
            )
            for name, value in spec_values(spec).items():
                setattr(row, name, value)
            if moved:
                # Another mailbox (or folder): the old position means nothing there. The next
                # poll starts at its current end, as a first connection does.
                row.cursor = None
            if spec.password:
                row.password_encrypted = self._secrets.encrypt(spec.password)
            row.updated_at = utc_now()
            session.add(row)
            session.commit()
            return self._load(session, tenant_id, source_id)

    def get(self, tenant_id: int, source_id: int) -> MailSource | None:
        with Session(self._engine) as session:
            row = _find(session, tenant_id, source_id)
            return None if row is None else self._to_source(session, row)

    def search(self, tenant_id: int, query: str = "") -> list[MailSource]:
        """Sources of one tenant; `query` searches name, description, host and username."""
        with Session(self._engine) as session:
            statement = select(MailSourceRow).where(MailSourceRow.tenant_id == tenant_id)
            if query.strip():
                pattern = f"%{query.strip().lower()}%"
                statement = statement.where(
                    or_(
                        *(
                            col(column).ilike(pattern)
                            for column in (
                                MailSourceRow.name,
                                MailSourceRow.description,
                                MailSourceRow.host,
                                MailSourceRow.username,
                            )
                        )
                    )
                )
            rows = session.exec(statement.order_by(col(MailSourceRow.id))).all()
            return [self._to_source(session, row) for row in rows]

    def delete(self, tenant_id: int, source_id: int) -> bool:
        """Remove the source and its email log; issues in Jira, threads and participants stay,
        so replies to its issues still thread if another source receives them."""
        with Session(self._engine) as session:
            row = _find(session, tenant_id, source_id)
            if row is None:
                return False
            session.execute(sql_delete(EmailLogRow).where(col(EmailLogRow.source_id) == source_id))
            # Its Graph subscription (if any) was ended at Graph by the caller while the
            # source could still sign in (`connector.push.graph_end`); one that could not be
            # lapses by itself within three days, its notifications refused from now on.
            session.execute(
                sql_delete(GraphSubscriptionRow).where(
                    col(GraphSubscriptionRow.source_id) == source_id
                )
            )
            session.delete(row)
            session.commit()
            return True

    def set_enabled(
        self,
        tenant_id: int,
        source_id: int,
        enabled: bool,
        *,
        cursor: str | None = None,
        first_connected_at: datetime | None = None,
    ) -> MailSource | None:
        with Session(self._engine) as session:
            row = _find(session, tenant_id, source_id)
            if row is None:
                return None
            row.enabled = enabled
            row.status = row.status if enabled else "disabled"
            if enabled:
                row.status = "unknown" if row.status == "disabled" else row.status
                row.next_poll_at = utc_now()
                row.consecutive_failures = 0
            if cursor is not None:
                row.cursor = cursor
            if first_connected_at is not None and row.first_connected_at is None:
                row.first_connected_at = first_connected_at
            row.updated_at = utc_now()
            session.add(row)
            session.commit()
            return self._load(session, tenant_id, source_id)

    # -- worker ----------------------------------------------------------------------------

    def find(self, source_id: int) -> MailSource | None:
        with Session(self._engine) as session:
            row = session.get(MailSourceRow, source_id)
            return None if row is None else self._to_source(session, row)

    def password(self, source_id: int) -> str | None:
        with Session(self._engine) as session:
            row = session.get(MailSourceRow, source_id)
            if row is None or row.password_encrypted is None:
                return None
            return self._secrets.decrypt(row.password_encrypted)

    def due(self, now: datetime, limit: int = 100) -> list[int]:
        """Enabled sources of installed, enabled tenants whose poll time has come, unleased."""
        with Session(self._engine) as session:
            statement = (
                of_active_tenants(select(MailSourceRow.id))
                .where(
                    col(MailSourceRow.enabled).is_(True),
                    or_(
                        col(MailSourceRow.next_poll_at).is_(None),
                        col(MailSourceRow.next_poll_at) <= now,
                    ),
                    or_(
                        col(MailSourceRow.lease_expires_at).is_(None),
                        col(MailSourceRow.lease_expires_at) < now,
                    ),
                )
                .order_by(col(MailSourceRow.next_poll_at))
                .limit(limit)
            )
            return [int(source_id) for source_id in session.exec(statement).all() if source_id]

    def active(self, source_ids: Collection[int] | None = None) -> list[MailSource]:
        """Enabled or not, the sources of installed, enabled tenants (of those ids if given):
        what the worker's push watcher keeps in step with."""
        with Session(self._engine) as session:
            statement = of_active_tenants(select(MailSourceRow)).order_by(col(MailSourceRow.id))
            if source_ids is not None:
                statement = statement.where(col(MailSourceRow.id).in_(list(source_ids)))
            return [self._to_source(session, row) for row in session.exec(statement).all()]

    def claim_push(self, source_ids: Collection[int], owner: str, seconds: float) -> set[int]:
        """Take or renew the right to idle on these sources; returns the ids this owner holds.

        Like `lease`, one conditional UPDATE: with several workers, one idles per source, and
        a worker that stopped renewing (crashed) is taken over once its claim expires."""
        return claim_rows(self._engine, _PUSH_CLAIM, source_ids, owner, seconds)

    def release_push(self, owner: str, source_ids: Collection[int] | None = None) -> None:
        """Give up idling (on these sources, or on all the owner holds)."""
        statement = update(MailSourceRow).where(col(MailSourceRow.push_owner) == owner)
        if source_ids is not None:
            statement = statement.where(col(MailSourceRow.id).in_(list(source_ids)))
        with Session(self._engine) as session:
            session.execute(statement.values(push_owner=None, push_expires_at=None))
            session.commit()

    def set_receives(self, source_id: int, receives: str) -> None:
        """How mail arrives, in words for the sources list (the push watcher's state)."""
        self._set(source_id, receives=receives)

    def lease(self, source_id: int, owner: str, seconds: float) -> bool:
        """Take the source for one poll; False when another worker holds it.

        A single conditional UPDATE, so two workers (or the web's poll-now and the worker)
        cannot both win; an expired lease (a crashed worker) can be taken over. The poll's
        heartbeat renews it the same way; a renewal keeps when the poll started, which is
        where its progress begins (`connector.storage.poll_runs`).
        """
        now = utc_now()
        renewed = col(MailSourceRow.lease_owner) == owner
        started = col(MailSourceRow.poll_started_at)
        moment = literal(now, DateTime(timezone=True))
        with Session(self._engine) as session:
            result = session.execute(
                update(MailSourceRow)
                .where(
                    col(MailSourceRow.id) == source_id,
                    or_(
                        col(MailSourceRow.lease_expires_at).is_(None),
                        col(MailSourceRow.lease_expires_at) < now,
                        col(MailSourceRow.lease_owner) == owner,
                    ),
                )
                # The poll a request asked for has started: the request is answered.
                .values(
                    lease_owner=owner,
                    lease_expires_at=now + timedelta(seconds=seconds),
                    poll_started_at=case((renewed, func.coalesce(started, moment)), else_=moment),
                    poll_requested_at=None,
                )
            )
            session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, source_id: int, owner: str) -> None:
        with Session(self._engine) as session:
            session.execute(
                update(MailSourceRow)
                .where(col(MailSourceRow.id) == source_id, col(MailSourceRow.lease_owner) == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )
            session.commit()

    def save_cursor(self, source_id: int, cursor: str) -> None:
        """Advance the position; called only after the messages before it are recorded."""
        self._set(source_id, cursor=cursor)

    def _set(self, source_id: int, **values: object) -> None:
        with Session(self._engine) as session:
            session.execute(
                update(MailSourceRow).where(col(MailSourceRow.id) == source_id).values(**values)
            )
            session.commit()

    def record_poll(
        self,
        source_id: int,
        *,
        ok: bool,
        message: str,
        next_poll_at: datetime,
        first_connected_at: datetime | None = None,
        release: str | None = None,
    ) -> None:
        """Store how the poll went and when the next one is due; with `release` (the owner
        of the poll's lease) give the lease up too, if that owner still holds it.

        One UPDATE: an idle poll's record and release were three round trips (read the row,
        write it, free the lease), a fair part of what polling a quiet mailbox costs."""
        now = utc_now()
        failures = col(MailSourceRow.consecutive_failures)
        values: dict[Any, Any] = {
            "status": "ok" if ok else "error",
            "status_message": message,
            "status_at": now,
            "last_poll_at": now,
            "next_poll_at": next_poll_at,
            "consecutive_failures": 0 if ok else failures + 1,
        }
        if first_connected_at is not None:
            first = col(MailSourceRow.first_connected_at)
            values["first_connected_at"] = func.coalesce(
                first, literal(first_connected_at, DateTime(timezone=True))
            )
        if release is not None:
            ours = col(MailSourceRow.lease_owner) == release
            for name in ("lease_owner", "lease_expires_at"):
                column = col(getattr(MailSourceRow, name))
                values[name] = case((ours, null()), else_=column)
        with Session(self._engine) as session:
            session.execute(
                update(MailSourceRow)
                .where(col(MailSourceRow.id) == source_id)
                .values(values)
                .execution_options(synchronize_session=False)  # no objects held to update
            )
            session.commit()

    # -- OAuth state (encrypted JSON; `connector.oauth_store` gives it meaning) -------------

    def oauth(self, source_id: int) -> dict[str, Any] | None:
        """The decrypted OAuth state of a source, or None; the worker's and callback's read."""
        with Session(self._engine) as session:
            row = session.get(MailSourceRow, source_id)
            if row is None or row.oauth_encrypted is None:
                return None
            return oauth_json(self._secrets.decrypt(row.oauth_encrypted))

    def change_oauth(
        self,
        source_id: int,
        change: OAuthChange,
        *,
        tenant_id: int | None = None,
        clear_password: bool = False,
    ) -> bool:
        """Replace the OAuth state with `change(current)`, atomically.

        A compare-and-set on the stored ciphertext: False when the state changed meanwhile
        (another callback consumed the same sign-in, or a refresh stored new tokens), so a
        single-use value can never be used twice. `change` may raise to refuse; nothing is
        written then. `tenant_id` scopes the write to one tenant (the admin API's calls).
        """
        with Session(self._engine) as session:
            row = (
                session.get(MailSourceRow, source_id)
                if tenant_id is None
                else _find(session, tenant_id, source_id)
            )
            if row is None:
                return False
            before = row.oauth_encrypted
            current = None if before is None else oauth_json(self._secrets.decrypt(before))
            changed = change(current)
            values: dict[str, Any] = {
                "oauth_encrypted": None
                if changed is None
                else self._secrets.encrypt(json.dumps(changed)),
                "updated_at": utc_now(),
            }
            if clear_password:
                values["password_encrypted"] = None
            same = (
                col(MailSourceRow.oauth_encrypted).is_(None)
                if before is None
                else col(MailSourceRow.oauth_encrypted) == before
            )
            result = session.execute(
                update(MailSourceRow)
                .where(col(MailSourceRow.id) == source_id, same)
                .values(**values)
            )
            session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # -- mapping ---------------------------------------------------------------------------

    def _load(self, session: Session, tenant_id: int, source_id: int) -> MailSource:
        row = _find(session, tenant_id, source_id)
        if row is None:
            raise LookupError(f"source {source_id} vanished")
        return self._to_source(session, row)

    def _to_source(self, session: Session, row: MailSourceRow) -> MailSource:
        return source_from_row(session, row, self._secrets)


def _find(session: Session, tenant_id: int, source_id: int) -> MailSourceRow | None:
    return session.exec(
        select(MailSourceRow).where(
            MailSourceRow.id == source_id, MailSourceRow.tenant_id == tenant_id
        )
    ).first()
