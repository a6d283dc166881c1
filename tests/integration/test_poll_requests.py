"""A "Poll now" where a separate worker polls: the web process asks (`RequestForWorker`), the
worker's scheduler starts the poll on its next tick, and the poll's lease answers the request.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from connector.admin.poll_start import RequestForWorker
from connector.polling import PollResult
from connector.runtime import Runtime
from connector.scheduler import PollFunction, Scheduler
from connector.storage.poll_runs import poll_progress, requested_polls
from connector.storage.times import utc_now
from tests.integration.test_scheduler import _not_due, _runtime, _source, _tenant


def _leasing_poll(polls: list[int]) -> PollFunction:
    def poll(runtime: Runtime, source_id: int) -> PollResult:
        polls.append(source_id)
        assert runtime.sources.lease(source_id, "worker-test", 60)
        runtime.sources.release(source_id, "worker-test")
        return PollResult(True, "done")

    return poll


def test_poll_requested_by_the_web_is_started_once_by_the_worker(
    migrated_engine: Engine, encryption_key: str
) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    tenant_id = _tenant(runtime, "site-a")
    source_id = _source(runtime, tenant_id, "asked for")
    _not_due(runtime, source_id)
    polls: list[int] = []
    scheduler = Scheduler(runtime, poll=_leasing_poll(polls))
    try:
        assert scheduler.tick(utc_now()) == []  # not due, not asked for
        RequestForWorker().start(runtime, source_id)
        RequestForWorker().start(runtime, source_id)  # asked twice before it starts: once
        assert poll_progress(runtime.engine, tenant_id)[source_id].state == "requested"
        assert scheduler.tick(utc_now()) == [source_id]
        assert scheduler.wait_idle()
        assert requested_polls(runtime.engine) == []  # the lease answered the request
        assert scheduler.tick(utc_now()) == []
        assert polls == [source_id]
        progress = poll_progress(runtime.engine, tenant_id)[source_id]
        assert progress.state == "idle" and progress.started_at is not None
    finally:
        scheduler.stop()


def test_poll_requested_for_a_disabled_source_is_not_started(
    migrated_engine: Engine, encryption_key: str
) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    tenant_id = _tenant(runtime, "site-a")
    source_id = _source(runtime, tenant_id, "turned off")
    _not_due(runtime, source_id)
    RequestForWorker().start(runtime, source_id)
    runtime.sources.set_enabled(tenant_id, source_id, False)
    polls: list[int] = []
    scheduler = Scheduler(runtime, poll=_leasing_poll(polls))
    try:
        assert requested_polls(runtime.engine) == []
        assert scheduler.tick(utc_now()) == []
        assert polls == []
    finally:
        scheduler.stop()


def test_a_polls_heartbeat_keeps_when_it_started_so_its_progress_keeps_its_messages(
    migrated_engine: Engine, encryption_key: str
) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    tenant_id = _tenant(runtime, "site-a")
    source_id = _source(runtime, tenant_id, "slow mailbox")
    assert runtime.sources.lease(source_id, "worker-1", 60)
    started = poll_progress(runtime.engine, tenant_id)[source_id].started_at
    runtime.email_log.begin(tenant_id, source_id, "INBOX:7:1", size=100)
    assert runtime.sources.lease(source_id, "worker-1", 60)  # the heartbeat renews it
    progress = poll_progress(runtime.engine, tenant_id)[source_id]
    assert (progress.state, progress.started_at, progress.fetched) == ("running", started, 1)
    runtime.sources.release(source_id, "worker-1")
    assert runtime.sources.lease(source_id, "worker-1", 60)  # the next poll starts afresh
    progress = poll_progress(runtime.engine, tenant_id)[source_id]
    assert started is not None and progress.started_at is not None
    assert progress.started_at > started
