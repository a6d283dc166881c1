"""The job `connector.deliver(entry_id)` as the queue engine queues it and what follows one run:
the delivery itself is `connector.engine.deliver.Deliverer`; this decides what comes next from
what it came to (`Delivered`), one case each:

- its Jira site is crowded: the job gives way, queued again for a moment later (`give_way`),
  and its worker's job slot goes to other sites' mail meanwhile;
- an earlier message of its thread is in flight: that one is queued first (in case its job
  was lost) at `FIRST_IN_THREAD`, or its waiting job raised to that priority, and this one
  again right after it, at most `MAX_WAITS` times;
- another delivery holds it (or held it and died): again once that claim lapses, first in
  its thread, so the replies after it still wait for it;
- postponed: a retry within `THREAD_HOLD` keeps the thread waiting for it, a later one lets
  the rest of the thread go on, as a poll would;
- the source's last message in flight is final: its source is fetched now, for the
  post-actions owed.

Whatever it came to, mail the delivery queued to send (a new issue's acknowledgement) has
its send job queued first (`send`, `connector.engine.sends`), so it leaves at once rather than
at the outbound round's next tick.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from procrastinate.tasks import Task

from connector.engine.deliver import THREAD_HOLD, Deliverer, JobHandoff
from connector.engine.jobs import BACKLOG, FRESH, defer_job, in_thread, raise_waiting
from connector.storage.deliveries import Deliveries, Earlier
from connector.storage.outbox import OutboundMessage
from connector.storage.times import utc_now

# A delivery that must go before the rest of its thread (taken again once a dead worker's claim
# lapses, or retried soon): procrastinate runs no job of a lock while one of higher priority
# waits, even one scheduled later, so the thread waits for it.
FIRST_IN_THREAD = 15
# A delivery stands back for an earlier message of its thread at most this often (waiting
# 0.5 s, doubling, up to 5 s: about a quarter of an hour in all, however often workers die
# meanwhile), then goes on: one whose earlier mail never ends (its stored copy unreadable, its
# site uninstalled meanwhile) must not wait for ever.
MAX_WAITS = 180
# A delivery that gave way is queued again after a pause picked at random in this range
# (seconds), spread so that the jobs that gave way together do not come back together, and
# doubled each time it gave way again, up to `GIVE_WAY_MOST`: long enough for one of a busy
# site's requests to end, and a site with hundreds of deliveries queued does not have each of
# them fetched and queued again twice a second while it works through them.
GIVE_WAY_SECONDS = (0.25, 0.75)
GIVE_WAY_MOST = 5.0


class DeliveryJobs:
    def __init__(
        self,
        deliverer: Deliverer,
        task: Task[Any, Any, Any],
        defer_poll: Callable[[int, int], Awaitable[bool]],
        send: Callable[[OutboundMessage], Awaitable[object]] | None = None,
    ) -> None:
        self._deliverer = deliverer
        self._task = task
        self._defer_poll = defer_poll
        self._send = send

    async def run(
        self,
        entry_id: int,
        lock: str | None,
        priority: int,
        waited: int = 0,
        source_id: int | None = None,
        gave_way: int = 0,
    ) -> None:
        """One run of the job (`waited`: how often it stood back for an earlier message of
        its thread already; `gave_way`, for its crowded site)."""
        deliver = self._deliverer.deliver
        done = await in_thread(deliver, entry_id, waited < MAX_WAITS, source_id)
        if done.queued is not None and self._send is not None:
            await self._send(done.queued)
        if done.crowded:
            await self._give_way(entry_id, lock, priority, waited, source_id, gave_way)
        elif done.waits_for is not None:
            await self._after_earlier(done.waits_for, entry_id, priority, waited, source_id)
        elif done.busy_until is not None:
            wait = max(0.5, _seconds_to(done.busy_until) + 0.5)
            await self.defer(entry_id, lock, FIRST_IN_THREAD, wait, source_id=source_id)
        elif done.retry_at is not None:
            await self._retry(done.retry_at, entry_id, lock, source_id)
        elif done.source_idle and done.source_id is not None:
            await self._defer_poll(done.source_id, FRESH if priority >= FRESH else BACKLOG)

    async def _after_earlier(
        self, earlier: Earlier, entry_id: int, priority: int, waited: int, source_id: int | None
    ) -> None:
        first = earlier.entry_id, earlier.lock, FIRST_IN_THREAD
        if not await self.defer(*first, source_id=earlier.source_id):
            # Its job waits already, maybe at a lower priority than this one's: raised, or
            # procrastinate would run this one first for ever, and it would wait for ever.
            await raise_waiting(self._task, _queueing_lock(earlier.entry_id), FIRST_IN_THREAD)
        delay = min(0.5 * 2 ** min(waited, 4), 5.0)
        await self.defer(entry_id, earlier.lock, priority, delay, waited + 1, source_id)

    async def _give_way(
        self,
        entry_id: int,
        lock: str | None,
        priority: int,
        waited: int,
        source_id: int | None,
        gave_way: int,
    ) -> None:
        """Again a moment later, at its priority and under its lock. A job queued anew stands
        behind the later jobs of its lock queued meanwhile: the first of them to run finds
        this message in flight and waits for it (`Deliverer.deliver`), so the thread keeps
        its order. (Not procrastinate's retry of the same job: a job put back in the queue
        while another job of its queueing lock was queued meanwhile, by the safety net or a
        poll, breaks the queueing lock's uniqueness and is left running for ever.)"""
        pause = random.uniform(*GIVE_WAY_SECONDS)  # noqa: S311 - spreading, not security
        pause = min(GIVE_WAY_MOST, pause * 2 ** min(gave_way, 6))
        await self.defer(entry_id, lock, priority, pause, waited, source_id, gave_way + 1)

    async def _retry(
        self, retry_at: datetime, entry_id: int, lock: str | None, source_id: int | None
    ) -> None:
        """Postponed (Jira unavailable, or waiting for its index after an interrupted attempt)."""
        wait = max(0.0, _seconds_to(retry_at))
        if lock and retry_at - utc_now() <= THREAD_HOLD:
            await self.defer(entry_id, lock, FIRST_IN_THREAD, wait, source_id=source_id)
        else:
            await self.defer(entry_id, None, BACKLOG, wait, source_id=source_id)

    async def defer(
        self,
        entry_id: int,
        lock: str | None,
        priority: int,
        delay: float = 0.0,
        waited: int = 0,
        source_id: int | None = None,
        gave_way: int = 0,
    ) -> bool:
        """Queue a delivery of the message; False when one is queued already. `source_id`:
        its source's, for the site's crowding, looked at before the message is begun."""
        arguments = {"entry_id": entry_id}
        if waited:
            arguments["waited"] = waited
        if source_id:
            arguments["source"] = source_id
        if gave_way:
            arguments["gave_way"] = gave_way
        queueing = _queueing_lock(entry_id)
        return await defer_job(self._task, lock or None, queueing, priority, delay, **arguments)

    def handoff(
        self, deliveries: Deliveries, loop: asyncio.AbstractEventLoop, priority: int
    ) -> JobHandoff:
        """How a poll job at `priority` queues the deliveries of what it fetched."""

        async def hand(entry_id: int, lock: str | None, at: int, source_id: int) -> bool:
            return await self.defer(entry_id, lock, at, source_id=source_id)

        return JobHandoff(deliveries, hand, loop, priority)


def _queueing_lock(entry_id: int) -> str:
    return f"deliver-{entry_id}"


def _seconds_to(moment: datetime) -> float:
    return (moment - utc_now()).total_seconds()
