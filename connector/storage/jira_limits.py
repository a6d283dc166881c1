"""Jira's rate limits as every worker sees them: pauses, and slots for requests in flight.

In the database, not in Redis: the product requires only a database (SQLite by default, one
process; PostgreSQL when several workers share the work), so every worker already reaches it
and nothing new has to run. The cost is one statement in each of two transactions per Jira
call (`enter`: the slot, unless a pause holds the request; `free_slot`), on tables of a few
rows per site.

A pause is one row per (scope, site, target), kept at the latest end Jira named. Slots are
rows keyed by (site, slot number below the bound): the primary key makes two workers that
race for one number fail but one, on SQLite and PostgreSQL alike; a slot's lease ends on its
own, so the slots of a worker that died are free again when their lease runs out.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    bindparam,
    delete,
    exists,
    literal_column,
    or_,
    union_all,
)
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
# Pauses only low-priority work heeds.
NEAR_SCOPES = ("near-app", "near-site")


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

    def in_force(self, now: datetime) -> list[StoredPause]:
        """Every pause in force at `now`, of every scope and site (a few rows: the copy a
        one-process store keeps, `connector.storage.process_limits`)."""
        with database_errors(), self._engine.connect() as connection:
            return _pauses(connection.execute(_IN_FORCE, {"now": now}).all())

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
            return _claim(connection, site, slots, holder, now + lease, now, None, first=0)

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
        """A slot of `site` (as `take_slot`) unless a pause holds a request to `targets` now
        (as `active`; those of the "near-" scopes only with `near_limits`): it runs before
        every Jira call, so it is one statement, an insert of a free slot number (the first
        from a number picked at random) that selects nothing while such a pause is in force.
        A paused request never holds a slot, and a request that waited for the slot sees the
        pause its predecessor recorded before giving the slot back.

        Only when no slot came back is it read why: the pauses (returned), all slots taken
        (None and no pause), or another worker that claimed the same number at the same
        moment (claimed again at once, while a number is free)."""
        wanted = [target[:255] for target in targets]
        ignored = () if near_limits else NEAR_SCOPES
        unless = (wanted, ignored)
        with database_errors(), self._engine.connect() as connection:
            for _ in range(slots + 1):
                # From a number of its own: workers that enter together rarely race for one.
                first = random.randrange(slots)  # noqa: S311 - spreading, not security
                slot = _claim(
                    connection, site, slots, holder, now + lease, now, unless, first=first
                )
                connection.commit()
                if slot is not None:
                    return slot, []
                pauses = [
                    pause
                    for pause in _active(connection, site, wanted, now)
                    if pause.scope not in ignored
                ]
                held = connection.execute(_HELD, {"site": site, "now": now}).scalars().all()
                connection.rollback()
                if pauses or len({number for number in held if number < slots}) >= slots:
                    return None, pauses
        return None, []

    def free_slot(self, site: str, slot: int, holder: str) -> None:
        with database_errors(), self._engine.begin() as connection:
            connection.execute(_FREE, {"site": site, "slot": slot, "holder": holder})

    def held(self, site: str, slots: int, now: datetime) -> int:
        with database_errors(), self._engine.connect() as connection:
            numbers = connection.execute(_HELD, {"site": site, "now": now}).scalars().all()
        return len({number for number in numbers if number < slots})


# The statements that run around every Jira call, built once (Core, not the ORM): only their
# values change from call to call.
_SLOTS = JiraSlotRow.__table__  # type: ignore[attr-defined]
_PAUSES = JiraPauseRow.__table__.c  # type: ignore[attr-defined]
_FREE = delete(_SLOTS).where(
    _SLOTS.c.site == bindparam("site"),
    _SLOTS.c.slot == bindparam("slot"),
    _SLOTS.c.holder == bindparam("holder"),
)
_HELD = core_select(_SLOTS.c.slot).where(
    _SLOTS.c.site == bindparam("site"), _SLOTS.c.expires_at > bindparam("now")
)


# A request touches at most two targets (its endpoint, the issue it writes to), bound as two
# plain parameters: with a list ("expanding") parameter the statement was compiled again and
# converted again by the driver for every Jira call, most of the cost of the check on
# PostgreSQL.
TARGETS = ("target_0", "target_1")


def _holding(site: Any, now: Any) -> Any:
    """The pauses in force at `now` for a request to `site` touching the targets bound as
    `TARGETS` (`_targets`)."""
    targets = [_PAUSES.target == bindparam(name, type_=String) for name in TARGETS]
    return (_PAUSES.until > now) & or_(
        _one_of(_PAUSES.scope, APP_SCOPES),
        (_PAUSES.site == site) & or_(_one_of(_PAUSES.scope, SITE_SCOPES), *targets),
    )


def _one_of(column: Any, values: Iterable[str]) -> Any:
    """`column` equals one of `values`, as plain comparisons: `in_` with a list makes an
    "expanding" parameter, rendered again at every execution (see `TARGETS`)."""
    return or_(*(column == value for value in values))


def _targets(targets: Iterable[str]) -> dict[str, str]:
    """The values of `TARGETS` for a request touching `targets`, cut to the column: the first
    repeated when there is one; "" when there is none (only pauses of a whole site or of the
    app, which hold every request anyway, have no target)."""
    wanted = [target[:255] for target in targets] or [""]
    if len(wanted) > len(TARGETS):
        raise ValueError(f"a request touches at most {len(TARGETS)} targets: {wanted}")
    padded = wanted + wanted[:1] * (len(TARGETS) - len(wanted))
    return dict(zip(TARGETS, padded, strict=True))


_PAUSE_COLUMNS = (_PAUSES.scope, _PAUSES.site, _PAUSES.target, _PAUSES.until, _PAUSES.reason)
_IN_FORCE = core_select(*_PAUSE_COLUMNS).where(_PAUSES.until > bindparam("now"))
_ACTIVE = core_select(*_PAUSE_COLUMNS).where(
    _holding(bindparam("site"), bindparam("now"))
)


def _active(
    connection: Connection, site: str, targets: Iterable[str], now: datetime
) -> list[StoredPause]:
    values = {"now": now, "site": site, **_targets(targets)}
    return _pauses(connection.execute(_ACTIVE, values).all())


def _pauses(rows: Iterable[Any]) -> list[StoredPause]:
    return [_stored(row) for row in rows]


def _claim(
    connection: Connection,
    site: str,
    slots: int,
    holder: str,
    expires_at: datetime,
    now: datetime,
    unless_paused: tuple[list[str], tuple[str, ...]] | None,
    *,
    first: int,
) -> int | None:
    """Claim a slot number below `slots` in one statement, the first free one counting from
    `first` (and round): a number nobody holds
    (inserted) or one whose lease ended (taken over by the insert's conflict update); with
    `unless_paused` (the request's targets, and the pause scopes to ignore) nothing is
    claimed while a pause holds the request. The primary key decides races, on SQLite and
    PostgreSQL alike, without failing the transaction: the loser's statement claims nothing.
    The row comes back only when this statement claimed it (RETURNING: a driver's rowcount
    for an insert that did nothing is not the same everywhere)."""
    values: dict[str, object] = {
        "site": site,
        "holder": holder,
        "expires_at": expires_at,
        "now": now,
        "rotate": slots - first,
    }
    ignored: tuple[str, ...] = ()
    if unless_paused is not None:
        targets, ignored = unless_paused
        values.update(_targets(targets))
    key = (connection.dialect.name, slots, unless_paused is not None, ignored)
    statement = _CLAIMS.get(key)
    if statement is None:
        statement = _CLAIMS[key] = _claim_statement(
            connection, slots, paused=unless_paused is not None, ignored=ignored
        )
    return connection.execute(statement, values).scalar()


def _claim_statement(
    connection: Connection, slots: int, *, paused: bool, ignored: tuple[str, ...]
) -> Any:
    """The insert `_claim` runs, built once per dialect, bound and pause check: only the
    values change from call to call."""
    numbers = union_all(
        *(core_select(literal_column(str(number)).label("n")) for number in range(slots))
    ).subquery("numbers")
    site = bindparam("site", type_=String)
    now = bindparam("now", type_=DateTime(timezone=True))
    held = core_select(_SLOTS.c.slot).where(_SLOTS.c.site == site, _SLOTS.c.expires_at > now)
    free = core_select(
        site,
        numbers.c.n,
        bindparam("holder", type_=String),
        bindparam("expires_at", type_=DateTime(timezone=True)),
    ).where(numbers.c.n.not_in(held))
    if paused:
        holding = _holding(site, now)
        if ignored:
            holding = holding & ~_one_of(_PAUSES.scope, ignored)
        free = free.where(~exists().where(holding))
    insert = conflict_insert(connection, _SLOTS).from_select(
        ["site", "slot", "holder", "expires_at"],
        free.order_by((numbers.c.n + bindparam("rotate", type_=Integer)) % slots).limit(1),
    )
    excluded = insert.excluded
    return insert.on_conflict_do_update(
        index_elements=[_SLOTS.c.site, _SLOTS.c.slot],
        set_={"holder": excluded.holder, "expires_at": excluded.expires_at},
        where=_SLOTS.c.expires_at <= now,
    ).returning(_SLOTS.c.slot)


_CLAIMS: dict[tuple[str, int, bool, tuple[str, ...]], Any] = {}


_KEEP = timedelta(days=1)  # ended pauses older than this are dropped when a new one comes


def _stored(row: Any) -> StoredPause:
    """A pause from a row of the table (an ORM row or a Core row of `_PAUSE_COLUMNS`)."""
    return StoredPause(row.scope, row.site, row.target, as_utc(row.until), row.reason)
