"""One queued message's delivery: the body of the job `connector.deliver(entry_id)`.

The job claims the message's log row (`connector.handoff.claim_kept`), so that a job run twice
(procrastinate puts a stalled worker's jobs back in the queue) or a poll's retry never
processes it a second time, and runs the pipeline over the stored bytes, as a poll would. What
follows is for the engine to queue: the job again when another delivery still holds the row
(a dead worker's claim lapses within `CLAIM_SECONDS`), a retry at its time when the attempt
was postponed, a fetch of the source when its last message in flight is final (the
mailbox is owed the post-actions), and the send of the mail the new issue's acknowledgement
queued (`Delivered.queued`). `JobHandoff` is how a poll job queues the deliveries.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector import logs
from connector.engine.jobs import BACKLOG
from connector.handoff import CLAIM_SECONDS, Handed, claim_kept
from connector.jira.auth import tenant_site
from connector.mail_source import MailSource
from connector.outcomes import Outcome
from connector.pipeline.process import Pipeline
from connector.pipeline.record import Processed
from connector.polling import Inbound
from connector.runtime import Runtime
from connector.storage.deliveries import Deliveries, Earlier
from connector.storage.outbox import OutboundMessage
from connector.storage.times import utc_now
from connector.tenant import Tenant

log = logging.getLogger(__name__)

# A postponed message whose retry comes sooner than this keeps the rest of its thread waiting
# for it; one further away lets it go on, as a poll would.
THREAD_HOLD = timedelta(minutes=5)
# How long a delivery reuses a source's settings and pipeline (one Jira client) before reading
# them again: a busy mailbox's messages share them, an admin's change is seen soon.
PIPELINE_SECONDS = 10.0


@dataclass(frozen=True)
class Delivered:
    """What one run of the job came to."""

    source_id: int | None = None
    processed: Processed | None = None  # None: nothing was done
    busy_until: datetime | None = None  # another delivery holds the message until then
    # An earlier message of its thread is in flight: that one goes first.
    waits_for: Earlier | None = None
    source_idle: bool = False  # no other message of the source is in flight
    # Not begun: every request slot of its Jira site is held (`SiteLimiter.crowded`); it gives
    # its job slot to other sites' mail and comes back shortly.
    crowded: bool = False
    # Mail it queued to send (the new issue's acknowledgement): its send job is queued now.
    queued: OutboundMessage | None = None

    @property
    def retry_at(self) -> datetime | None:
        return None if self.processed is None else self.processed.retry_at


@dataclass(frozen=True)
class Built:
    """A source's settings and pipeline, reused for `PIPELINE_SECONDS`."""

    at: float  # time.monotonic() when built
    source: MailSource
    tenant: Tenant
    pipeline: Pipeline
    site: str  # the Jira site its requests go to, as the limiter counts them


class Deliverer:
    def __init__(
        self, runtime: Runtime, inbound: Inbound, *, claim_seconds: float = CLAIM_SECONDS
    ) -> None:
        self._runtime = runtime
        self._inbound = inbound
        self._claim_seconds = claim_seconds
        self._built: dict[int, Built] = {}
        self._lock = threading.Lock()

    def deliver(
        self, entry_id: int, patient: bool = True, source_id: int | None = None
    ) -> Delivered:
        """Process the message if it is to be had and nothing before it in its thread is in
        flight (unless it waited long enough, not `patient` any more): the job's lock keeps a
        thread's jobs in queue order, but a job queued again (a dead worker's, a lost one) may
        stand behind a later message of its thread.

        With the message's `source_id` (the job names it), a message whose Jira site has
        every request slot held is not begun: a worker runs a fixed number of jobs at once,
        and deliveries waiting on one busy site would hold them all while other sites' Jira
        has room (`Delivered.crowded`)."""
        deliveries = self._runtime.deliveries
        # Crowded first: a message that gives way has not waited for its thread, so a reply
        # whose parent keeps giving way to a long backlog on their site does not use up its
        # patience (`MAX_WAITS`) and go before it.
        if source_id is not None:
            built = self._pipeline(source_id)
            if built is not None and self._runtime.jira_limiter.crowded(built.site):
                return Delivered(source_id, crowded=True)
        if patient:
            earlier = deliveries.earlier_in_thread(entry_id, utc_now() + THREAD_HOLD)
            # Mail of a site uninstalled meanwhile stays pending: nothing to wait for.
            if earlier is not None and self._pipeline(earlier.source_id) is not None:
                return Delivered(waits_for=earlier)
        with claim_kept(deliveries, entry_id, self._claim_seconds) as claimed:
            if claimed is None:
                standing = deliveries.standing(entry_id)
                held = standing.claimed_until if standing and not standing.final else None
                return Delivered(busy_until=held)
            entry = claimed.entry
            found = self._pipeline(entry.source_id)
            if found is None:  # its source or site is gone: the row waits for its return
                return Delivered(entry.source_id)
            source, tenant = found.source, found.tenant
            processed = found.pipeline.process(source, entry, claimed.raw)
        logs.event(
            log, "mail.delivered", logging.DEBUG, entry_id=entry_id, outcome=processed.outcome
        )
        queued = None
        if processed.outcome is Outcome.CREATED and processed.issue_key:
            queued = self._inbound.issue_created(tenant, processed.issue_key)
        idle = processed.final and not deliveries.in_flight(source.id)
        return Delivered(source.id, processed, source_idle=idle, queued=queued)

    def _pipeline(self, source_id: int) -> Built | None:
        now = time.monotonic()
        with self._lock:
            kept = self._built.get(source_id)
        if kept is not None and now - kept.at < PIPELINE_SECONDS:
            return kept
        runtime = self._runtime
        source = runtime.sources.find(source_id)
        tenant = runtime.tenants.get(source.client_key) if source else None
        if source is None or tenant is None or not tenant.active:
            return None
        site = tenant_site(tenant, app_key=runtime.settings.app_key).base_url
        built = Built(now, source, tenant, self._inbound.pipeline(source, tenant), site)
        with self._lock:
            self._built[source_id] = built
        return built


class JobHandoff:
    """`connector.handoff.Handoff` for one poll job: the deliveries are jobs of the queue, at
    the poll's priority (a backlog's next batch stays behind other sites' new mail), queued
    from the poll's thread through the engine's event loop."""

    def __init__(
        self,
        deliveries: Deliveries,
        defer: Callable[[int, str | None, int, int], Awaitable[bool]],
        loop: asyncio.AbstractEventLoop,
        priority: int,
    ) -> None:
        self._deliveries = deliveries
        self._defer = defer
        self._loop = loop
        self._priority = priority

    def hand(self, source: MailSource, messages: Sequence[Handed]) -> None:
        if messages:
            queued = asyncio.run_coroutine_threadsafe(
                self._queue(source.id, messages), self._loop
            )
            queued.result()

    def requeue(self, source: MailSource) -> int:
        found = self._deliveries.unqueued(source.id, utc_now())
        self.hand(source, [Handed(entry_id, lock) for entry_id, lock in found])
        return len(found)

    async def _queue(self, source_id: int, messages: Sequence[Handed]) -> None:
        for message in messages:
            priority = BACKLOG if message.behind else self._priority
            await self._defer(message.entry_id, message.lock, priority, source_id)
