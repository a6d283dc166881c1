"""The PostgreSQL engine: polls, deliveries and outbound sends are jobs of procrastinate.

procrastinate (a task queue kept in PostgreSQL, the database we already require) is used
rather than threads and leases of our own, so that any number of `connector worker`
processes on any number of machines share the work; its schema is applied by migration
0012. What it gives us here:

- a poll is a job `connector.poll(source_id)` with the lock `source-<id>` (one poll of a
  mailbox at a time, across all workers) and the queueing lock `poll-<id>` (however often
  it is asked for, one poll of a mailbox waits in the queue);
- a periodic job (`connector.dispatch`, every `dispatch_every` seconds, deferred by exactly
  one worker per tick) queues a poll for each source whose `next_poll_at` has come, all in
  one insert; a worker runs up to `concurrency` (WORKER_CONCURRENCY) jobs at once, its
  blocking work in threads, so how many sources one worker keeps on schedule is bound by how
  long polls take (IO), not by a tick;
- a poll takes at most `batch` messages; one that was cut there queues the next batch at
  once at `BACKLOG` priority, below `FRESH` (due sources, push): a backlog drains batch
  after batch without waiting for its interval, and other sites' new mail is taken before
  its next batch (fairness), while backlogs among themselves take turns (first queued,
  first run);
- a poll only fetches (`connector.handoff`): each message is recorded, stored encrypted and
  queued as a job `connector.deliver(entry_id)` at the poll's priority, with the lock
  `thread-<tenant>-<digest of the thread's root>` (`connector.delivery_order`): procrastinate
  runs the jobs of one lock one at a time, higher priority first, then in queue order, so a
  thread's mail is delivered in arrival order while other threads run on any worker. A reply
  whose References lack the root joins the lock of its parent when that is still queued
  (looked up by Message-ID digest at fetch time), and goes at `BACKLOG` so that it never
  overtakes it; a reply whose parent is not queued any more needs no order. Since a job
  queued again (a dead worker's, a lost one) stands behind what was queued meanwhile, a
  delivery also looks in the log first: while an earlier message of its thread is in flight
  it queues that one at `FIRST_IN_THREAD` and itself again shortly after (`MAX_WAITS`;
  what follows a run is `connector.engine.delivery_jobs`);
- a delivery claims its log row (a compare-and-set, renewed while it runs, lapsing after
  `claim_seconds`): a job run twice, or a poll's retry, never processes a message twice.
  One that finds the row held queues itself again for when the claim lapses, and one that
  was postponed for a short while (`THREAD_HOLD`) queues its retry, both under the thread's
  lock at `FIRST_IN_THREAD`, above the thread's other jobs, which wait for it. A poll queues
  again what is due and has no job waiting (a retry's time came, a worker died between
  recording and queueing); when the last message of a source in flight is final, the source
  is polled at once, and that poll does the post-actions owed (mark read, move, delete);
- a delivery whose Jira site has every request slot held (by any worker) while a request of
  its worker waits for one is not begun: its job gives way (queued again for a moment
  later, at its priority; `connector.engine.delivery_jobs`), and the worker's job slot goes
  to other sites' mail meanwhile;
- workers wake on LISTEN/NOTIFY when a job is queued; each writes a heartbeat, and a
  periodic job (`connector.recover`) puts the jobs of a worker silent for `stalled_seconds`
  back in the queue, so a dead worker's poll or delivery runs again within a minute (the
  source's lease, `connector.polling.LEASE_SECONDS`, and the message's claim,
  `connector.handoff.CLAIM_SECONDS`, run out by then too);
- outbound mail is a job per message, `connector.send(message_id)` (`connector.engine.sends`):
  a periodic round decides the webhook events and purges expired content, and queues a send
  for each due message (one waiting per message, the queueing lock `send-<id>`), at once for
  the mail an event it decided made; a delivery queues the send of the acknowledgement it
  queued itself, at once; the lock `outbound-<tenant>` sends a tenant's mail one
  at a time, so a slow server holds one job slot; a send claims its message
  (`connector.storage.retry_queue`), so one run twice sends it once.

Push watchers (IMAP IDLE and Graph subscriptions, `connector.push.watchers`) stay with one
worker each through the database claims of `connector.push`; their announcements, the Graph
notifications the web process marks (taken every second or so, or at once on `wake`) and
the admins' "Poll now" requests (taken by dispatch) queue a poll. Finished jobs are deleted; failed
ones are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.jobs import JobDeferrer, Status

from connector import logs
from connector.engine.deliver import Deliverer
from connector.engine.delivery_jobs import FIRST_IN_THREAD as FIRST_IN_THREAD
from connector.engine.delivery_jobs import DeliveryJobs
from connector.engine.jobs import BACKLOG as BACKLOG
from connector.engine.jobs import FRESH as FRESH
from connector.engine.jobs import configured, defer_job, defer_new, in_thread
from connector.engine.sends import SendJobs
from connector.handoff import CLAIM_SECONDS
from connector.outbound.worker import SenderFactory, stored_sender
from connector.polling import LEASE_SECONDS, POLL_BATCH, PollResult
from connector.push.sync import SYNC_SECONDS
from connector.push.watchers import PushWatchers
from connector.runtime import Runtime
from connector.storage.db import libpq_url
from connector.storage.poll_runs import requested_polls
from connector.storage.times import utc_now
from connector.wiring import JiraInbound, TrackerFactory, jira_tracker, poll_source

log = logging.getLogger(__name__)

PollFunction = Callable[[Runtime, int], PollResult]

HOUSEKEEPING = 20  # dispatch and recovery: short, and everything else waits on them
DISPATCH_LIMIT = 5000  # due sources queued per dispatch tick


def queue_connections(jobs: int) -> int:
    """The pool of the queue's own connections for a worker running `jobs` at once: the
    fetch loop, the heartbeat and dispatch each hold one a moment, and every job one to
    finish; LISTEN has one more of its own."""
    return 2 + jobs // 8


class QueueEngine:
    def __init__(
        self,
        runtime: Runtime,
        *,
        poll: PollFunction | None = None,
        tracker_factory: TrackerFactory = jira_tracker,
        split: bool = True,
        push: bool = False,
        concurrency: int | None = None,
        batch: int = POLL_BATCH,
        dispatch_every: int = 5,
        heartbeat_seconds: float = 5.0,
        stalled_seconds: float = 20.0,
        lease_seconds: float = LEASE_SECONDS,
        outbound: bool = True,
        push_sync_seconds: float = SYNC_SECONDS,
        claim_seconds: float = CLAIM_SECONDS,
        sender_factory: SenderFactory = stored_sender,
    ) -> None:
        """`poll` replaces the whole poll (tests); otherwise a poll fetches and queues one
        delivery job per message, or, with `split` off, processes its messages itself.
        `sender_factory`: how outbound mail leaves (`connector.engine.sends`)."""
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self._runtime = runtime
        self._poll = poll
        self._split = split
        self._batch = batch
        self._lease_seconds = lease_seconds
        self._tracker_factory = tracker_factory
        self._deliverer = Deliverer(
            runtime, JiraInbound(runtime, tracker_factory), claim_seconds=claim_seconds
        )
        # WORKER_CONCURRENCY unless given (tests); the thread pool, the runtime's SQLAlchemy
        # pool (`connector.storage.db.make_engine`) and the queue's own pool follow it.
        self.concurrency = concurrency or runtime.settings.worker_concurrency
        self._heartbeat = heartbeat_seconds
        self._stalled = stalled_seconds
        self._busy_delay = lease_seconds / 4
        self._push = (
            PushWatchers(runtime, owner=self.owner, on_mail=self.poll_soon, every=push_sync_seconds)
            if push
            else None
        )
        self._woken = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self.started = threading.Event()  # the worker takes jobs (for tests)
        # The queue's own connections (fetching, finishing and queueing jobs; LISTEN takes
        # one more), beside the runtime's SQLAlchemy pool: count both per worker against
        # PostgreSQL's max_connections.
        self.app = App(
            connector=PsycopgConnector(
                conninfo=libpq_url(runtime.settings.database_url),
                min_size=1,
                max_size=queue_connections(self.concurrency),
            )
        )
        self.sends = (
            SendJobs(runtime, self.app, sender_factory=sender_factory) if outbound else None
        )
        self._register(dispatch_every)

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    # -- the jobs ------------------------------------------------------------------------

    def _register(self, dispatch_every: int) -> None:
        app = self.app
        every = f"* * * * * */{dispatch_every}"  # croniter: seconds are the sixth field

        @app.task(name="connector.poll", queue="polls", pass_context=True)
        async def poll(context: JobContext, source_id: int) -> None:
            await self._poll_job(source_id, context.job.priority)

        self._poll_task = poll

        @app.task(
            name="connector.deliver",
            queue="deliveries",
            pass_context=True,
        )
        async def deliver(
            context: JobContext, entry_id: int, waited: int = 0, source: int = 0, gave_way: int = 0
        ) -> None:
            job = context.job
            run = self._delivery_jobs.run
            await run(entry_id, job.lock, job.priority, waited, source or None, gave_way)

        sends = self.sends
        self._delivery_jobs = DeliveryJobs(
            self._deliverer, deliver, self.defer_poll, sends.defer if sends else None
        )

        @app.periodic(cron=every, periodic_id="dispatch")
        @app.task(
            name="connector.dispatch",
            queue="schedule",
            queueing_lock="dispatch",
            priority=HOUSEKEEPING,
        )
        async def dispatch(timestamp: int) -> None:
            await self.dispatch()

        @app.periodic(cron=every, periodic_id="recover")
        @app.task(
            name="connector.recover",
            queue="schedule",
            queueing_lock="recover",
            priority=HOUSEKEEPING,
        )
        async def recover(timestamp: int) -> None:
            await self.recover()

        if self.sends is not None:
            self.sends.register(every)

    async def _poll_job(self, source_id: int, priority: int = FRESH) -> None:
        loop = asyncio.get_running_loop()
        result = await in_thread(self._run_poll, source_id, priority, loop)
        if result.more:  # more mail waits: the next batch now, behind other sites' new mail
            await self.defer_poll(source_id, BACKLOG)
        elif result.busy:  # another poll holds it (or a dead worker's lease runs out)
            await self.defer_poll(source_id, FRESH, delay=self._busy_delay)

    def _run_poll(
        self, source_id: int, priority: int, loop: asyncio.AbstractEventLoop
    ) -> PollResult:
        if self._poll is not None:
            return self._poll(self._runtime, source_id)
        handoff = None
        if self._split:
            handoff = self._delivery_jobs.handoff(self._runtime.deliveries, loop, priority)
        return poll_source(
            self._runtime,
            source_id,
            owner=self.owner,
            limit=self._batch,
            tracker_factory=self._tracker_factory,
            lease_seconds=self._lease_seconds,
            handoff=handoff,
        )

    async def defer_poll(self, source_id: int, priority: int, delay: float = 0.0) -> bool:
        """Queue a poll of the source; False when one is queued already."""
        lock, queueing = f"source-{source_id}", f"poll-{source_id}"
        task = self._poll_task
        return await defer_job(task, lock, queueing, priority, delay, source_id=source_id)

    def _poll_job_of(self, source_id: int, priority: int, delay: float = 0.0) -> JobDeferrer:
        return configured(
            self._poll_task, f"source-{source_id}", f"poll-{source_id}", priority, delay
        )

    async def dispatch(self) -> int:
        """Queue a poll for every source an admin asked to poll now (a web process that
        leaves polling to workers marks them) and every source that is due; returns how
        many were queued."""
        asked = await in_thread(requested_polls, self._runtime.engine)
        due = await in_thread(self._runtime.sources.due, utc_now(), DISPATCH_LIMIT)
        return await self._defer_polls(list(dict.fromkeys([*asked, *due])), FRESH)

    async def _defer_polls(self, source_ids: list[int], priority: int) -> int:
        """Queue a poll of each source that has none waiting (`defer_new`: one query, one
        insert)."""
        jobs = [
            self._poll_job_of(source_id, priority).make_new_job(source_id=source_id)
            for source_id in source_ids
        ]
        return await defer_new(self.app, jobs)

    async def recover(self) -> int:
        """Put the jobs of workers that stopped writing their heartbeat back in the queue."""
        manager = self.app.job_manager
        stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=self._stalled))
        for job in stalled:
            try:
                await manager.retry_job(job)
            except Exception:  # its queueing lock is taken: a newer job does the same work
                with contextlib.suppress(Exception):
                    await manager.finish_job(job, Status.FAILED, delete_job=True)
            logs.event(log, "engine.job_recovered", task=job.task_name, job_id=job.id)
        return len(stalled)

    # -- running -------------------------------------------------------------------------

    def poll_soon(self, source_id: int) -> None:
        self._soon("poll", lambda: self.defer_poll(source_id, FRESH))

    def mail_queued(self) -> None:
        """Queue the send jobs of the due mail now (any thread)."""
        sends = self.sends
        if sends is not None:
            self._soon("sends", sends.defer_due)

    def events_recorded(self) -> None:
        """Queue the outbound round now (any thread): it decides the events and queues the
        sends of the mail they make."""
        sends = self.sends
        if sends is not None:
            self._soon("round", sends.round_soon)

    def _soon(self, what: str, make: Callable[[], Coroutine[Any, Any, object]]) -> None:
        """Queue a job from another thread, on the engine's loop while it runs. A failure is
        logged, not raised: the periodic jobs do the same work a moment later."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        coroutine = make()
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError:  # the loop closed meanwhile: the engine is stopping
            coroutine.close()
            return

        def done(finished: Future[object]) -> None:
            if not finished.cancelled() and finished.exception() is not None:
                error = finished.exception()
                logs.event(log, "engine.queue_soon_failed", logging.WARNING, job=what, error=error)

        future.add_done_callback(done)

    def wake(self) -> None:
        """Take the Graph notifications marked in the database now (the web process that
        marked them runs this engine)."""
        self._woken.set()

    def stop(self) -> None:
        self._stop_requested.set()
        self._woken.set()
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(stopping.set)

    def run_forever(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        # Jobs block in threads (IMAP, Jira, the database): one for each job and its beats.
        loop.set_default_executor(
            ThreadPoolExecutor(self.concurrency + 4, thread_name_prefix="job")
        )
        self._stopping = asyncio.Event()
        self._loop = loop
        if self._stop_requested.is_set():
            return
        logs.event(log, "engine.started", owner=self.owner, push=self._push is not None)
        push_thread = self._start_push()
        async with self.app.open_async():
            worker = asyncio.create_task(
                self.app.run_worker_async(
                    name=self.owner,
                    concurrency=self.concurrency,
                    install_signal_handlers=False,
                    update_heartbeat_interval=self._heartbeat,
                    stalled_worker_timeout=self._stalled,
                    fetch_job_polling_interval=1.0,
                    delete_jobs="successful",
                    shutdown_graceful_timeout=30.0,
                )
            )
            self.started.set()
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not worker.done():
                worker.cancel()  # procrastinate's graceful stop: running jobs finish first
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        if push_thread is not None:
            push_thread.join(timeout=30)
        self._loop = None
        logs.event(log, "engine.stopped", owner=self.owner)

    def _start_push(self) -> threading.Thread | None:
        push = self._push
        if push is None:
            return None

        def keep_in_step() -> None:
            push.start()
            while not self._stop_requested.is_set():
                self._woken.clear()
                try:
                    push.step()  # announcements call poll_soon
                except Exception:  # a database hiccup must not end the watchers
                    log.exception("engine.push_sync_failed owner=%s", self.owner)
                self._woken.wait(push.wait())
            push.stop()

        thread = threading.Thread(target=keep_in_step, name="push", daemon=True)
        thread.start()
        return thread
