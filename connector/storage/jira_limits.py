"""Jira's rate limits as every worker sees them: pauses, and slots for requests in flight.

In the database, not in Redis: the product requires only a database (SQLite by default, one
process; PostgreSQL when several workers share the work), so every worker already reaches it
and nothing new has to run. The cost is two transactions per Jira call (`enter`: the slot and
the pauses in one; `free_slot`), on tables of a few rows per site.

A pause is one row per (scope, site, target), kept at the latest end Jira named. Slots are
rows keyed by (site, slot number below the bound): the primary key makes two workers that
race for one number fail but one, on SQLite and PostgreSQL alike; a slot's lease ends on its
own, so the slots of a worker that died are free again when their lease runs out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from connector.storage.db import conflict_insert, database_errors
from connector.storage.models import JiraPauseRow, JiraSlotRow
from connector.storage.times import as_utc

# Pauses that concern every site, and those of one site whatever the endpoint or issue.
APP_SCOPES = ("app", "near-app")
SITE_SCOPES = ("site", "near-site")


@dataclass(frozen=True)
class StoredPause:
    scope: str
    site: str
    target: str
    until: datetime
    reason: str


class JiraLimitStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def pause(self, scope: str, site: str, target: str, until: datetime, reason: str) -> None:
        """Record a wait; an existing one for the same scope is extended, never shortened.
        Jira's words are cut to the columns' lengths (a reason string is Jira's to choose)."""
        target, reason = target[:255], reason[:64]
        with database_errors(), Session(self._engine) as session:
            session.exec(delete(JiraPauseRow).where(col(JiraPauseRow.until) < until - _KEEP))
            found = session.exec(
                select(JiraPauseRow).where(
                    JiraPauseRow.scope == scope,
                    JiraPauseRow.site == site,
                    JiraPauseRow.target == target,
                )
            ).first()
            if found is None:
                session.add(
                    JiraPauseRow(scope=scope, site=site, target=target, until=until, reason=reason)
                )
            elif as_utc(found.until) < until:
                found.until, found.reason = until, reason
                session.add(found)
            try:
                session.commit()
            except IntegrityError:  # another worker recorded it first: theirs stands
                session.rollback()

    def active(self, site: str, targets: Iterable[str], now: datetime) -> list[StoredPause]:
        """Pauses in force now for a request to `site` touching `targets` (its endpoint, the
        issue it writes to)."""
        with database_errors(), self._engine.connect() as connection:
            return _active(connection, site, targets, now)

    def site_pauses(self, sites: Iterable[str], now: datetime) -> dict[str, StoredPause]:
        """For each site, the pause that keeps every request from it now (the app's or its
        own), the one that ends last; sites with none are left out."""
        wanted = list(sites)
        with database_errors(), Session(self._engine) as session:
            rows = session.exec(
                select(JiraPauseRow).where(
                    col(JiraPauseRow.until) > now,
                    or_(
                        col(JiraPauseRow.scope) == "app",
                        (col(JiraPauseRow.scope) == "site") & col(JiraPauseRow.site).in_(wanted),
                    ),
                )
            ).all()
        found: dict[str, StoredPause] = {}
        for row in rows:
            for site in wanted if row.scope == "app" else [row.site]:
                if site not in found or found[site].until < as_utc(row.until):
                    found[site] = _stored(row)
        return found

    def take_slot(
        self, site: str, slots: int, holder: str, now: datetime, lease: timedelta
    ) -> int | None:
        """A free slot number below `slots` for `site`, held by `holder` until the lease ends;
        None when all are taken. A slot whose lease ended is taken over."""
        with database_errors(), self._engine.begin() as connection:
            return _claim(connection, site, slots, holder, now + lease, now)

    def enter(
        self,
        site: str,
        slots: int,
        holder: str,
        now: datetime,
        lease: timedelta,
        targets: Iterable[str],
        *,
        near_limits: bool,
    ) -> tuple[int | None, list[StoredPause]]:
        """A slot of `site` (as `take_slot`) and the pauses that hold a request to `targets`
        now (as `active`; those of the "near-" scopes only with `near_limits`), in one
        transaction on one connection: it runs before every Jira call.

        The slot is kept only when it was free and no pause holds the request; otherwise the
        transaction is rolled back, so a paused request never held a slot. The pauses are read
        after the slot is claimed: a request that waited for the slot sees the pause its
        predecessor recorded before giving the slot back."""
        with database_errors(), self._engine.connect() as connection:
            slot = _claim(connection, site, slots, holder, now + lease, now)
            pauses = [] if slot is None else _active(connection, site, targets, now)
            if not near_limits:
                pauses = [pause for pause in pauses if not pause.scope.startswith("near-")]
            if slot is None or pauses:
                connection.rollback()
                return None, pauses
            connection.commit()
            return slot, []

    def free_slot(self, site: str, slot: int, holder: str) -> None:
        with database_errors(), self._engine.begin() as connection:
            connection.execute(_FREE, {"site": site, "slot": slot, "holder": holder})


# The statements that run around every Jira call, built once (Core, not the ORM): only their
# values change from call to call.
_SLOTS = JiraSlotRow.__table__  # type: ignore[attr-defined]
_PAUSES = JiraPauseRow.__table__.c  # type: ignore[attr-defined]
_FREE = delete(_SLOTS).where(
    _SLOTS.c.site == bindparam("site"),
    _SLOTS.c.slot == bindparam("slot"),
    _SLOTS.c.holder == bindparam("holder"),
)
_HELD = core_select(_SLOTS.c.slot, _SLOTS.c.expires_at).where(_SLOTS.c.site == bindparam("site"))
_ACTIVE = core_select(
    _PAUSES.scope, _PAUSES.site, _PAUSES.target, _PAUSES.until, _PAUSES.reason
).where(
    _PAUSES.until > bindparam("now"),
    or_(
        _PAUSES.scope.in_(APP_SCOPES),
        (_PAUSES.site == bindparam("site"))
        & (
            _PAUSES.scope.in_(SITE_SCOPES)
            | _PAUSES.target.in_(bindparam("targets", expanding=True))
        ),
    ),
)


def _active(
    connection: Connection, site: str, targets: Iterable[str], now: datetime
) -> list[StoredPause]:
    values = {"now": now, "site": site, "targets": [target[:255] for target in targets]}
    rows = connection.execute(_ACTIVE, values).all()
    return [StoredPause(r.scope, r.site, r.target, as_utc(r.until), r.reason) for r in rows]


def _claim(
    connection: Connection, site: str, slots: int, holder: str, expires_at: datetime, now: datetime
) -> int | None:
    """Claim a slot number below `slots` in the connection's transaction: a number nobody
    holds (an insert that does nothing when another worker inserted it first) or one whose
    lease ended (an update that does nothing when another worker took it over first). The
    primary key decides races, on SQLite and PostgreSQL alike, without failing the
    transaction."""
    table = _SLOTS
    held = connection.execute(_HELD, {"site": site}).all()
    ended = {row.slot for row in held if as_utc(row.expires_at) <= now}
    taken = {row.slot for row in held} - ended
    for slot in (number for number in range(slots) if number not in taken):
        if slot in ended:
            claimed = connection.execute(
                update(table)
                .where(table.c.site == site, table.c.slot == slot, table.c.expires_at <= now)
                .values(holder=holder, expires_at=expires_at)
                .returning(table.c.slot)
            )
        else:
            claimed = connection.execute(
                conflict_insert(connection, table)
                .values(site=site, slot=slot, holder=holder, expires_at=expires_at)
                .on_conflict_do_nothing()
                .returning(table.c.slot)
            )
        # The row comes back only when this statement claimed it (RETURNING: a driver's
        # rowcount for an insert that did nothing is not the same everywhere).
        if claimed.first() is not None:
            return slot
    return None


_KEEP = timedelta(days=1)  # ended pauses older than this are dropped when a new one comes


def _stored(row: JiraPauseRow) -> StoredPause:
    return StoredPause(row.scope, row.site, row.target, as_utc(row.until), row.reason)
