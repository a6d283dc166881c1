"""Jira's rate limits on SQLite, where one process does all the work: slots in memory.

On SQLite one process polls, delivers and sends (README, "What runs the work"), so the
requests in flight to a site are all this process's own: counting them in memory bounds them
exactly, where the database store (`connector.storage.jira_limits.JiraLimitStore`) spends
two write transactions per Jira call on it. Measured by `tests/benchmarks/message_cost.py`,
those were a third of the commits per message on SQLite and about a fifth of the worker
thread's time.

Pauses stay in the database: the mail-sources page reads them, a restart keeps them, and a
command run beside the server (a `connector` CLI call) records its own there. This process
keeps a copy of the pauses in force, read again after it records one and at least every
`PAUSES_READ_SECONDS`, so a pause recorded by another process holds this one's requests
within that time; its own hold at once.

PostgreSQL keeps the database store: there, workers in other processes share the bound.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from connector.storage.jira_limits import (
    APP_SCOPES,
    NEAR_SCOPES,
    SITE_SCOPES,
    JiraLimitStore,
    StoredPause,
)

PAUSES_READ_SECONDS = 5.0


class OneProcessLimitStore:
    """The `LimitStore` for one process: slots counted here, pauses kept by `stored`."""

    def __init__(
        self,
        stored: JiraLimitStore,
        *,
        read_every: float = PAUSES_READ_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stored = stored
        self._read_every = read_every
        self._monotonic = monotonic
        self._lock = threading.Lock()
        # site -> slot number -> (holder, end of its lease)
        self._slots: dict[str, dict[int, tuple[str, datetime]]] = {}
        self._pauses: list[StoredPause] = []
        self._read_at: float | None = None  # None: to be read before the next use
        self._recorded = 0  # pauses recorded by this process so far

    # --- pauses: in the database, a copy here ------------------------------------------

    def pause(self, scope: str, site: str, target: str, until: datetime, reason: str) -> None:
        self.stored.pause(scope, site, target, until, reason)
        with self._lock:
            self._recorded += 1
            self._read_at = None

    def active(self, site: str, targets: Iterable[str], now: datetime) -> list[StoredPause]:
        return self.stored.active(site, targets, now)

    def site_pauses(self, sites: Iterable[str], now: datetime) -> dict[str, StoredPause]:
        return self.stored.site_pauses(sites, now)

    def _in_force(self, now: datetime) -> list[StoredPause]:
        with self._lock:
            read_at, recorded = self._read_at, self._recorded
            if read_at is not None and self._monotonic() - read_at < self._read_every:
                return self._pauses
        started = self._monotonic()
        found = self.stored.in_force(now)
        with self._lock:
            # A pause recorded while this read ran may be missing from it: read again then.
            if self._recorded == recorded:
                self._pauses, self._read_at = found, started
        return found

    # --- slots: in memory -----------------------------------------------------------------

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
    ) -> tuple[int | None, Sequence[StoredPause]]:
        """As `JiraLimitStore.enter`: the pauses holding a request to `targets` (those of the
        "near-" scopes only with `near_limits`), else a slot, else neither."""
        wanted = {target[:255] for target in targets}
        ignored = () if near_limits else NEAR_SCOPES
        holding = [
            pause
            for pause in self._in_force(now)
            if pause.scope not in ignored and _holds(pause, site, wanted, now)
        ]
        if holding:
            return None, holding
        first = random.randrange(slots)  # noqa: S311 - spreading, as the database store does
        return self._claim(site, slots, holder, now + lease, now, first=first), []

    def take_slot(
        self, site: str, slots: int, holder: str, now: datetime, lease: timedelta
    ) -> int | None:
        return self._claim(site, slots, holder, now + lease, now, first=0)

    def free_slot(self, site: str, slot: int, holder: str) -> None:
        with self._lock:
            held = self._slots.get(site, {})
            found = held.get(slot)
            if found is not None and found[0] == holder:
                del held[slot]

    def held(self, site: str, slots: int, now: datetime) -> int:
        with self._lock:
            held = self._slots.get(site, {})
            return sum(1 for number, (_, ends) in held.items() if number < slots and ends > now)

    def _claim(
        self, site: str, slots: int, holder: str, expires_at: datetime, now: datetime, *, first: int
    ) -> int | None:
        """The first number below `slots`, counting from `first` and round, that nobody
        holds or whose lease ended."""
        with self._lock:
            held = self._slots.setdefault(site, {})
            for step in range(slots):
                number = (first + step) % slots
                found = held.get(number)
                if found is None or found[1] <= now:
                    held[number] = (holder, expires_at)
                    return number
        return None


def _holds(pause: StoredPause, site: str, targets: set[str], now: datetime) -> bool:
    """Whether `pause` holds a request to `site` touching `targets` at `now` (the database
    store's `_holding`, in Python)."""
    if pause.until <= now:
        return False
    if pause.scope in APP_SCOPES:
        return True
    return pause.site == site and (pause.scope in SITE_SCOPES or pause.target in targets)


def limit_store(engine: Engine) -> JiraLimitStore | OneProcessLimitStore:
    """The store for this database: in memory and in the database on SQLite (one process),
    in the database on PostgreSQL (every worker)."""
    stored = JiraLimitStore(engine)
    return OneProcessLimitStore(stored) if engine.dialect.name == "sqlite" else stored
