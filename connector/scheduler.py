"""Which source is due, and running its poll without letting one tenant hold up the others.

Every `tick_seconds` the scheduler asks storage for enabled sources of active tenants whose
`next_poll_at` has come (storage skips leased ones) and hands each to a thread pool. Bounds:
`max_workers` polls at once in all, `per_tenant` at once for one Jira site (so one tenant's
slow mailboxes or rate-limited Jira cannot take every worker). A poll holds a lease in the
database, so a second worker process, or the admin's "poll now", never polls the same source
at the same time. Backoff and jitter are decided by the poll itself (`connector.polling`).

Push (`push=True`, the worker's, `connector.push.watchers`): an `IdleWatcher` idles on the
sources that allow it and calls `poll_soon`, which wakes the loop; the next tick starts
those sources first, through the same bounds and the same poll (its lease, cursor and
exactly-once ledger), whatever their `next_poll_at`, so the safety poll at the interval
stays. Mail announced while the source is being polled gets one more poll after it;
announcements coalesce meanwhile.
Graph sources are pushed by change notifications (`GraphPush`): the web process marks a
notified source in the database, and this loop takes the marks every second or so
(at once when the web runs in this process: `wake`) and polls those sources the same way.

A poll takes at most `POLL_BATCH` messages; one that was cut there (more mail waiting) is
started again at once, through the same bounds, rather than after its interval. When a tick
finds more due sources than free slots, the loop ticks again as soon as a poll ends instead
of waiting for the next tick, so how many sources keep their schedule is bound by how long
polls take (IO), not by the tick.

The outbound round (`connector.outbound.worker`) starts with each tick, and at once when a
poll queued an acknowledgement (`OutboundWorker.send_soon`), so it leaves without waiting
for the next tick.

This is the SQLite engine (`connector.engine`): with PostgreSQL, `connector.engine.queue`
shares the same polls out through a task queue instead.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from connector import logs
from connector.mail_source import MailSource
from connector.outbound.worker import OutboundWorker
from connector.polling import POLL_BATCH, PollResult
from connector.push.sync import SYNC_SECONDS
from connector.push.watchers import PushWatchers
from connector.runtime import Runtime
from connector.storage.poll_runs import requested_polls
from connector.storage.times import utc_now
from connector.wiring import poll_source

log = logging.getLogger(__name__)

PollFunction = Callable[[Runtime, int], PollResult]


class Scheduler:
    def __init__(
        self,
        runtime: Runtime,
        *,
        tick_seconds: float = 5.0,
        max_workers: int = 8,
        per_tenant: int = 2,
        poll: PollFunction | None = None,
        push: bool = False,
        push_sync_seconds: float = SYNC_SECONDS,
        graph_base_url: str | None = None,
    ) -> None:
        """`graph_base_url`: where Microsoft Graph sends notifications, BASE_URL unless given
        (tests name a public one while the app listens on loopback)."""
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self._runtime = runtime
        self._tick_seconds = tick_seconds
        self._per_tenant = per_tenant
        self._max_workers = max_workers
        self._poll = poll or self._poll_source
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="poll")
        self._running: dict[int, int] = {}  # source id -> tenant id
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._wanted: set[int] = set()  # announced by push, started on the next tick
        self._again: set[int] = set()  # announced while being polled: poll once more after
        self._later: set[int] = set()  # announced, but another held the lease: next tick
        self._saturated = False  # the last tick left due sources for want of a free slot
        self._push = (
            PushWatchers(
                runtime,
                owner=self.owner,
                on_mail=self.poll_soon,
                every=push_sync_seconds,
                graph_base_url=graph_base_url,
            )
            if push
            else None
        )
        # Webhook events, the send queue and retention: one round at a time, beside the polls.
        self.outbound = OutboundWorker(runtime)

    def _poll_source(self, runtime: Runtime, source_id: int) -> PollResult:
        """The poll; an acknowledgement it queues wakes the outbound round at once."""
        return poll_source(
            runtime,
            source_id,
            owner=self.owner,
            limit=POLL_BATCH,
            mail_queued=self.outbound.send_soon,
        )

    def run_forever(self) -> None:
        logs.event(log, "scheduler.started", owner=self.owner, push=self._push is not None)
        if self._push is not None:
            self._push.start()
        next_tick = 0.0
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                ticking = bool(self._wanted) or self._saturated or time.monotonic() >= next_tick
                self._saturated = False
            try:
                if self._push is not None:
                    self._push.step()  # announcements call poll_soon: this tick starts them
                    with self._lock:
                        ticking = ticking or bool(self._wanted)
                if ticking:
                    next_tick = time.monotonic() + self._tick_seconds
                    self.tick(utc_now())
            except Exception:  # a database hiccup must not end the worker; try next tick
                log.exception("scheduler.tick_failed owner=%s", self.owner)
            if ticking:
                self.outbound.start_round()
            wait = max(next_tick - time.monotonic(), 0.0)
            if self._push is not None:  # push states and Graph marks are taken between ticks too
                wait = min(wait, self._push.wait())
            self._wake.wait(wait)
        if self._push is not None:
            self._push.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.outbound.join()
        logs.event(log, "scheduler.stopped", owner=self.owner)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Look for work now (the web marked a Graph notification in this process)."""
        self._wake.set()

    def mail_queued(self) -> None:
        self.outbound.send_soon()

    def events_recorded(self) -> None:
        self.outbound.send_soon()  # the round decides the events, then sends what they queued

    def poll_soon(self, source_id: int) -> None:
        """New mail was announced (push): poll the source on the next tick, which starts now.
        Any thread; returns at once; repeated calls before that tick make one poll."""
        with self._lock:
            (self._again if source_id in self._running else self._wanted).add(source_id)
        self._wake.set()

    def tick(self, now: datetime) -> list[int]:
        """Start polls for the sources announced by push or asked for by an admin, then those
        due now; returns the ids started."""
        with self._lock:
            wanted, self._wanted = self._wanted | self._later, set()
            self._later = set()
        # "Poll now" from the admin pages of a web process that leaves polling to workers.
        wanted |= set(requested_polls(self._runtime.engine))
        started = self._start(self._runtime.sources.active(wanted) if wanted else [], wanted)
        with self._lock:
            free = self._max_workers - len(self._running)
        if free <= 0:
            with self._lock:
                self._saturated = True
            return started
        due = self._runtime.sources.due(now, limit=free * 4)
        found = [s for source_id in due if (s := self._runtime.sources.find(source_id))]
        begun = self._start(found, set())
        if len(begun) < len(found):
            with self._lock:
                self._saturated = True
        return started + begun

    def _start(self, sources: Iterable[MailSource], wanted: set[int]) -> list[int]:
        """Submit polls within the bounds; a wanted source left out waits for the next tick
        (one that is disabled, deleted or of an inactive tenant is dropped)."""
        started: list[int] = []
        for source in sources:
            if not source.enabled:
                continue
            with self._lock:
                per_tenant = Counter(self._running.values())
                if source.id in self._running:
                    if source.id in wanted:
                        self._again.add(source.id)
                    continue
                if (
                    len(self._running) >= self._max_workers
                    or per_tenant[source.tenant_id] >= self._per_tenant
                ):
                    if source.id in wanted:
                        self._wanted.add(source.id)
                    continue
                self._running[source.id] = source.tenant_id
            future = self._pool.submit(self._poll, self._runtime, source.id)
            future.add_done_callback(
                functools.partial(self._finished, source.id, source.id in wanted)
            )
            started.append(source.id)
        return started

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """For tests and shutdown: wait until no poll is running."""
        pause = threading.Event()
        for _ in range(int(timeout / 0.05)):
            with self._lock:
                if not self._running:
                    return True
            pause.wait(0.05)
        return False

    def _finished(self, source_id: int, wanted: bool, future: Future[PollResult]) -> None:
        if future.cancelled():  # never started: the scheduler is shutting down
            with self._lock:
                self._running.pop(source_id, None)
            return
        error = future.exception()
        # Mail announced during the poll, or a pushed poll that found another holding the
        # lease (whose listing may have come before the mail): poll once more.
        skipped = wanted and error is None and future.result().skipped
        more = error is None and future.result().more
        with self._lock:
            self._running.pop(source_id, None)
            if skipped:  # at the next tick, not now: the other poll may take a while
                self._later.add(source_id)
            if source_id in self._again or more:  # more mail waits: poll again at once
                self._again.discard(source_id)
                self._wanted.add(source_id)
            if self._wanted or self._saturated:  # a slot is free: start what waits for one
                self._wake.set()
        if error is not None:
            logs.event(
                log,
                "scheduler.poll_crashed",
                logging.ERROR,
                source_id=source_id,
                error=type(error).__name__,
            )
