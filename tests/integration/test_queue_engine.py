"""The PostgreSQL engine (connector.engine.queue) on a real PostgreSQL: dispatch of due sources
without double enqueue, the next batch of a busy mailbox at once and behind other sites' new
mail, recovery of a dead worker's job, and the choice of engine by the database URL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy.engine import Engine

from connector.engine import uses_task_queue, work_engine
from connector.engine.jobs import _WAITING
from connector.engine.queue import BACKLOG, FRESH, QueueEngine, queue_connections
from connector.polling import PollResult
from connector.runtime import Runtime
from connector.scheduler import Scheduler
from connector.storage.db import SPARE_CONNECTIONS, libpq_url, make_engine, migrate
from connector.storage.poll_runs import request_poll
from connector.storage.times import utc_now
from tests.conftest import _postgres_database, make_settings
from tests.integration.test_scheduler import _runtime, _source, _tenant

T = TypeVar("T")


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    for url in _postgres_database():
        engine = make_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


def _jobs(runtime: Runtime) -> list[tuple[str, str, int, str | None]]:
    with psycopg.connect(libpq_url(runtime.settings.database_url)) as connection:
        rows = connection.execute(
            "SELECT task_name, status::text, priority, queueing_lock FROM procrastinate_jobs"
            " WHERE task_name = 'connector.poll' ORDER BY id"
        ).fetchall()
    return [(str(a), str(b), int(c), d) for a, b, c, d in rows]


def _run(engine: QueueEngine, make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine of the engine's with its queue open, as a worker would."""

    async def main() -> T:
        async with engine.app.open_async():
            return await make()

    # On a thread of its own: the browser tests' sync Playwright can leave an event loop
    # marked as running on the main thread, where asyncio.run() refuses to start.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def test_engine_is_chosen_by_the_database_url(
    pg_engine: Engine, sqlite_url: str, encryption_key: str
) -> None:
    assert uses_task_queue("postgresql+psycopg://u@h/db")
    assert not uses_task_queue(sqlite_url)
    assert isinstance(work_engine(_runtime(pg_engine, encryption_key), push=False), QueueEngine)
    sqlite = make_engine(sqlite_url)
    migrate(sqlite)
    assert isinstance(work_engine(_runtime(sqlite, encryption_key), push=False), Scheduler)


def test_worker_concurrency_sizes_the_engine_and_its_connection_pools(
    pg_engine: Engine, encryption_key: str
) -> None:
    url = pg_engine.url.render_as_string(hide_password=False)
    settings = make_settings(
        base_url="http://localhost:8000",
        database_url=url,
        encryption_key=encryption_key,
        env={"WORKER_CONCURRENCY": "40"},
    )
    runtime = Runtime.create(settings)
    try:
        engine = work_engine(runtime, push=False)
        assert isinstance(engine, QueueEngine)
        assert engine.concurrency == 40
        # Each job can hold a pooled connection while the spare ones serve everything else.
        assert runtime.engine.pool.size() == 40 + SPARE_CONNECTIONS  # type: ignore[attr-defined]
        assert engine.app.connector._pool_args["max_size"] == queue_connections(40)  # type: ignore[attr-defined]
    finally:
        runtime.engine.dispose()


def test_dispatch_queues_each_due_source_once(pg_engine: Engine, encryption_key: str) -> None:
    runtime = _runtime(pg_engine, encryption_key)
    tenant = _tenant(runtime, "site-a")
    due = [_source(runtime, tenant, f"due {i}") for i in range(3)]
    later = _source(runtime, tenant, "later")
    runtime.sources.record_poll(
        later, ok=True, message="", next_poll_at=utc_now() + timedelta(minutes=5)
    )
    engine = QueueEngine(runtime, outbound=False)
    assert _run(engine, engine.dispatch) == 3
    assert _run(engine, engine.dispatch) == 0  # the queueing lock: still one each
    jobs = _jobs(runtime)
    assert sorted(str(lock) for *_, lock in jobs) == sorted(f"poll-{i}" for i in due)
    assert {(status, priority) for _, status, priority, _ in jobs} == {("todo", FRESH)}


def test_dispatch_queues_one_by_one_when_a_poll_was_queued_meanwhile(
    pg_engine: Engine, encryption_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Between dispatch's look at the polls waiting and its one insert, push or another worker
    # queued one of them: the insert is refused as a whole, and the rest go one by one.
    runtime = _runtime(pg_engine, encryption_key)
    tenant = _tenant(runtime, "site-a")
    due = [_source(runtime, tenant, f"due {i}") for i in range(3)]
    engine = QueueEngine(runtime, outbound=False)
    assert _run(engine, lambda: engine.defer_poll(due[1], FRESH))

    connector = engine.app.connector
    query_all = connector.execute_query_all_async

    async def looked_earlier(query: str, **arguments: Any) -> list[dict[str, Any]]:
        if query == _WAITING:
            return []  # as it was looked at, a moment before that poll was queued
        return await query_all(query, **arguments)

    monkeypatch.setattr(connector, "execute_query_all_async", looked_earlier)
    assert _run(engine, engine.dispatch) == 2
    assert sorted(str(lock) for *_, lock in _jobs(runtime)) == sorted(f"poll-{i}" for i in due)


def test_dispatch_queues_a_poll_an_admin_asked_for(pg_engine: Engine, encryption_key: str) -> None:
    # "Poll now" in a web process that leaves polling to workers marks the source.
    runtime = _runtime(pg_engine, encryption_key)
    asked = _source(runtime, _tenant(runtime, "site-a"), "asked")
    runtime.sources.record_poll(
        asked, ok=True, message="", next_poll_at=utc_now() + timedelta(minutes=5)
    )
    engine = QueueEngine(runtime, outbound=False)
    assert _run(engine, engine.dispatch) == 0
    request_poll(pg_engine, asked)
    assert _run(engine, engine.dispatch) == 1
    assert [str(lock) for *_, lock in _jobs(runtime)] == [f"poll-{asked}"]


def test_backlog_waits_behind_other_sites_new_mail(pg_engine: Engine, encryption_key: str) -> None:
    runtime = _runtime(pg_engine, encryption_key)
    big = _source(runtime, _tenant(runtime, "site-big"), "backlog")
    small = _source(runtime, _tenant(runtime, "site-small"), "new mail")
    engine = QueueEngine(runtime, outbound=False)

    async def queue_and_fetch() -> list[int]:
        await engine.defer_poll(big, BACKLOG)
        await engine.defer_poll(small, FRESH)
        worker_id = await engine.app.job_manager.register_worker()
        order = []
        for _ in range(2):
            job = await engine.app.job_manager.fetch_job(queues=None, worker_id=worker_id)
            assert job is not None
            order.append(int(job.task_kwargs["source_id"]))  # type: ignore[arg-type]
        return order

    assert _run(engine, queue_and_fetch) == [small, big]


def test_more_mail_is_polled_again_at_once_and_one_poll_per_source_at_a_time(
    pg_engine: Engine, encryption_key: str
) -> None:
    runtime = _runtime(pg_engine, encryption_key)
    tenant = _tenant(runtime, "site-a")
    busy = _source(runtime, tenant, "three batches")
    quiet = _source(runtime, tenant, "no mail")
    calls: list[int] = []
    running: set[int] = set()
    overlaps: list[int] = []
    lock = threading.Lock()

    def poll(rt: Runtime, source_id: int) -> PollResult:
        with lock:
            if source_id in running:
                overlaps.append(source_id)
            running.add(source_id)
            calls.append(source_id)
            batches = calls.count(source_id)
        time.sleep(0.05)
        with lock:
            running.discard(source_id)
        # The next poll comes from the interval: far away, so any repeat is the engine's.
        rt.sources.record_poll(
            source_id, ok=True, message="", next_poll_at=utc_now() + timedelta(hours=1)
        )
        return PollResult(True, "ok", more=source_id == busy and batches < 3)

    engine = QueueEngine(runtime, poll=poll, outbound=False, dispatch_every=1)
    thread = threading.Thread(target=engine.run_forever, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (calls.count(busy) < 3 or quiet not in calls):
            time.sleep(0.05)
        time.sleep(1.5)  # a further dispatch tick: nothing is due any more
    finally:
        engine.stop()
        thread.join(timeout=40)
    assert not thread.is_alive()
    assert calls.count(busy) == 3
    assert calls.count(quiet) == 1
    assert overlaps == []


def test_a_dead_workers_job_goes_back_to_the_queue(pg_engine: Engine, encryption_key: str) -> None:
    runtime = _runtime(pg_engine, encryption_key)
    source = _source(runtime, _tenant(runtime, "site-a"), "taken by a dead worker")
    engine = QueueEngine(runtime, outbound=False, stalled_seconds=1)

    async def die_holding_a_job() -> None:
        manager = engine.app.job_manager
        await engine.defer_poll(source, FRESH)
        dead = await manager.register_worker()
        assert await manager.fetch_job(queues=None, worker_id=dead) is not None

    _run(engine, die_holding_a_job)
    assert [status for _, status, _, _ in _jobs(runtime)] == ["doing"]
    assert _run(engine, engine.recover) == 0  # its heartbeat is fresh: not dead yet
    time.sleep(1.5)
    assert _run(engine, engine.recover) == 1
    assert [status for _, status, _, _ in _jobs(runtime)] == ["todo"]
