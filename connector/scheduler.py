"""Which source is due, and running its poll without letting one tenant hold up the others.

Every `tick_seconds` the scheduler asks storage for enabled sources of active tenants whose
`next_poll_at` has come (storage skips leased ones) and hands each to a thread pool. Bounds:
`max_workers` polls at once in all, `per_tenant` at once for one Jira site (so one tenant's
slow mailboxes or rate-limited Jira cannot take every worker). A poll holds a lease in the
database, so a second worker process, or the admin's "poll now", never polls the same source
at the same time. Backoff and jitter are decided by the poll itself (`connector.polling`).
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from connector import logs
from connector.outbound.worker import OutboundWorker
from connector.polling import PollResult
from connector.runtime import Runtime
from connector.storage.models import utc_now
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
    ) -> None:
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self._runtime = runtime
        self._tick_seconds = tick_seconds
        self._per_tenant = per_tenant
        self._max_workers = max_workers
        self._poll = poll or (lambda rt, source_id: poll_source(rt, source_id, owner=self.owner))
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="poll")
        self._running: dict[int, int] = {}  # source id -> tenant id
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Webhook events, the send queue and retention: one round at a time, beside the polls.
        self.outbound = OutboundWorker(runtime)

    def run_forever(self) -> None:
        logs.event(log, "scheduler.started", owner=self.owner)
        while not self._stop.is_set():
            try:
                self.tick(utc_now())
            except Exception:  # a database hiccup must not end the worker; try next tick
                log.exception("scheduler.tick_failed owner=%s", self.owner)
            self.outbound.start_round()
            self._stop.wait(self._tick_seconds)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.outbound.join()
        logs.event(log, "scheduler.stopped", owner=self.owner)

    def stop(self) -> None:
        self._stop.set()

    def tick(self, now: datetime) -> list[int]:
        """Start polls for the sources due now; returns the ids started."""
        started: list[int] = []
        for source_id in self._runtime.sources.due(now, limit=self._max_workers * 4):
            source = self._runtime.sources.find(source_id)
            if source is None:
                continue
            with self._lock:
                if len(self._running) >= self._max_workers:
                    break
                per_tenant = Counter(self._running.values())
                if source_id in self._running or per_tenant[source.tenant_id] >= self._per_tenant:
                    continue
                self._running[source_id] = source.tenant_id
            future = self._pool.submit(self._poll, self._runtime, source_id)
            future.add_done_callback(functools.partial(self._finished, source_id))
            started.append(source_id)
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

    def _finished(self, source_id: int, future: Future[PollResult]) -> None:
        with self._lock:
            self._running.pop(source_id, None)
        error = future.exception()
        if error is not None:
            logs.event(
                log,
                "scheduler.poll_crashed",
                logging.ERROR,
                source_id=source_id,
                error=type(error).__name__,
            )
