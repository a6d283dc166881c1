"""Jira's rate limits on SQLite: slots counted in memory, pauses kept in the database.

The behaviours both stores share (the bound, pauses, leases) are tested for each in
`test_jira_rate_limits.py`; here, what is the one-process store's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from connector.storage.jira_limits import JiraLimitStore, StoredPause
from connector.storage.process_limits import OneProcessLimitStore, limit_store

SITE = "https://acme.atlassian.net"
ENDPOINT = "GET /rest/api/3/myself"
LEASE = timedelta(seconds=90)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _enter(
    store: OneProcessLimitStore | JiraLimitStore, holder: str
) -> tuple[int | None, list[str]]:
    slot, pauses = store.enter(
        SITE, 2, holder, datetime.now(UTC), LEASE, [ENDPOINT], near_limits=False
    )
    return slot, [pause.scope for pause in pauses]


def test_slots_cost_no_statement_while_the_copy_of_the_pauses_is_fresh(
    migrated_engine: Engine,
) -> None:
    clock = _Clock()
    store = OneProcessLimitStore(JiraLimitStore(migrated_engine), monotonic=clock)
    assert _enter(store, "first") != (None, [])  # reads the pauses once
    with _statements(migrated_engine) as seen:
        slot, pauses = _enter(store, "second")
        assert slot is not None and pauses == []
        assert _enter(store, "third") == (None, [])  # both slots held
        store.free_slot(SITE, slot, "second")
        assert store.held(SITE, 2, datetime.now(UTC)) == 1
    assert seen == []
    # The database store, for comparison, runs statements for the same calls.
    with _statements(migrated_engine) as seen:
        _enter(JiraLimitStore(migrated_engine), "elsewhere")
    assert seen


def test_a_pause_of_this_process_holds_at_once_and_another_processs_within_the_read_interval(
    migrated_engine: Engine,
) -> None:
    clock = _Clock()
    stored = JiraLimitStore(migrated_engine)
    store = OneProcessLimitStore(stored, read_every=5.0, monotonic=clock)
    until = datetime.now(UTC) + timedelta(minutes=10)
    assert _enter(store, "a")[0] is not None
    # Recorded by another process (a CLI call beside the server): not yet seen here ...
    stored.pause("endpoint", SITE, ENDPOINT, until, "jira-burst-based")
    assert _enter(store, "b")[1] == []
    # ... until the copy is read again.
    clock.now += 5.0
    assert _enter(store, "c") == (None, ["endpoint"])
    # One recorded by this process holds its next request at once, another site's too.
    clock.now += 1.0
    store.pause("app", "", "", until, "jira-quota-global-based")
    slot, pauses = store.enter(
        "https://other.atlassian.net",
        2,
        "d",
        datetime.now(UTC),
        LEASE,
        ["GET /x"],
        near_limits=False,
    )
    assert (slot, [pause.scope for pause in pauses]) == (None, ["app"])
    # The mail-sources page reads the database: it sees the app's pause for every site.
    paused = store.site_pauses([SITE], datetime.now(UTC))
    assert paused[SITE].reason == "jira-quota-global-based"


class _PausedWhileRead(JiraLimitStore):
    """A database store that runs `during` in the middle of its next read of the pauses."""

    during: Callable[[], None] | None = None

    def in_force(self, now: datetime) -> list[StoredPause]:
        found = super().in_force(now)
        during, self.during = self.during, None
        if during is not None:
            during()
        return found


def test_a_pause_recorded_while_the_copy_is_read_is_not_lost(migrated_engine: Engine) -> None:
    stored = _PausedWhileRead(migrated_engine)
    store = OneProcessLimitStore(stored, read_every=3600.0, monotonic=_Clock())
    until = datetime.now(UTC) + timedelta(minutes=10)
    stored.during = lambda: store.pause("site", SITE, "", until, "jira-quota-tenant-based")
    # The request that was reading when the pause came goes (it asked before the pause) ...
    assert _enter(store, "a")[0] is not None
    # ... and the next one reads again, though the interval has not run out.
    assert _enter(store, "b") == (None, ["site"])


def test_sqlite_counts_slots_in_memory_and_postgresql_in_the_database(
    migrated_engine: Engine,
) -> None:
    sqlite = migrated_engine.dialect.name == "sqlite"
    expected = OneProcessLimitStore if sqlite else JiraLimitStore
    assert type(limit_store(migrated_engine)) is expected
