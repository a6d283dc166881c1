"""The SQLite engine keeps up with more than a tick's worth of work (issue 17): a mailbox with
more mail waiting is polled again at once, due sources left over for want of a free slot start
as soon as one frees, and a poll's lease is renewed while it runs so that a short lease frees
a dead worker's source quickly without handing a live poll's source to another."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy.engine import Engine

from connector.mail_source import MailSource
from connector.pipeline.process import Pipeline
from connector.polling import PollResult, run_poll
from connector.runtime import Runtime
from connector.scheduler import Scheduler
from connector.storage.times import utc_now
from connector.tenant import Tenant
from tests.integration.test_scheduler import _runtime, _source, _tenant

FAR = 600.0  # a tick so far away that anything started meanwhile was started by the engine
HOUR = timedelta(hours=1)  # the next poll by the interval: none within the test


def _run(scheduler: Scheduler, until: threading.Event, timeout: float = 20) -> None:
    thread = threading.Thread(target=scheduler.run_forever, daemon=True)
    thread.start()
    try:
        assert until.wait(timeout), "the scheduler did not get there in time"
    finally:
        scheduler.stop()
        thread.join(timeout=30)


def test_more_mail_waiting_is_polled_again_without_waiting_for_a_tick(
    migrated_engine: Engine, encryption_key: str
) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    source_id = _source(runtime, _tenant(runtime, "site-a"), "three batches")
    calls: list[int] = []
    third = threading.Event()

    def poll(rt: Runtime, polled: int) -> PollResult:
        calls.append(polled)
        rt.sources.record_poll(polled, ok=True, message="", next_poll_at=utc_now() + HOUR)
        if len(calls) == 3:
            third.set()
        return PollResult(True, "batch", more=len(calls) < 3)

    scheduler = Scheduler(runtime, tick_seconds=FAR, poll=poll)
    _run(scheduler, third)
    time.sleep(0.3)
    assert calls == [source_id] * 3  # and no fourth: the last batch said nothing more waits


def test_due_sources_beyond_the_free_slots_start_as_slots_free(
    migrated_engine: Engine, encryption_key: str
) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    tenants = [_tenant(runtime, f"site-{n}") for n in range(6)]
    sources = {_source(runtime, tenant, f"source {n}") for n, tenant in enumerate(tenants)}
    polled: set[int] = set()
    lock = threading.Lock()
    everyone = threading.Event()

    def poll(rt: Runtime, source_id: int) -> PollResult:
        time.sleep(0.1)
        rt.sources.record_poll(source_id, ok=True, message="", next_poll_at=utc_now() + HOUR)
        with lock:
            polled.add(source_id)
            if polled == sources:
                everyone.set()
        return PollResult(True, "no new mail")

    # Two slots, six due sources, one tick: the other four must not wait for the next tick.
    scheduler = Scheduler(runtime, tick_seconds=FAR, max_workers=2, poll=poll)
    _run(scheduler, everyone)
    assert polled == sources


class _SlowInbound:
    """An `Inbound` whose Jira check takes `seconds`: a poll that outlives its lease."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def pipeline(self, source: MailSource, tenant: Tenant) -> Pipeline:
        raise AssertionError("not reached: the Jira check says wait")

    def issue_created(self, tenant: Tenant, issue_key: str) -> None:
        raise AssertionError("not reached")

    def jira_pending(self, tenant: Tenant) -> str | None:
        time.sleep(self.seconds)
        return "waiting for the site's token"


def test_a_running_poll_keeps_its_short_lease_and_gives_it_up_at_the_end(
    migrated_engine: Engine, encryption_key: str
) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    source_id = _source(runtime, _tenant(runtime, "site-a"), "slow")
    taken: list[bool] = []

    def other_worker() -> None:
        time.sleep(1.0)  # well past the 0.4 s lease, were it not renewed
        taken.append(runtime.sources.lease(source_id, "worker-2", 10))

    other = threading.Thread(target=other_worker)
    other.start()
    result = run_poll(runtime, source_id, _SlowInbound(1.6), owner="worker-1", lease_seconds=0.4)
    other.join()
    assert result.skipped and not result.busy
    assert taken == [False]
    assert runtime.sources.lease(source_id, "worker-2", 10)  # released when the poll ended
