"""Outbound mail on PostgreSQL: each due message is a job of its own, `connector.send`.

The periodic round (`connector.outbound`, one per tick across all workers) decides the
recorded webhook events and purges expired content as on SQLite (`OutboundWorker.run_once`),
but sends nothing itself: it queues a job `connector.send(message_id)` for each due message
that has none waiting (one query and one insert, `connector.engine.jobs.defer_new`), before
deciding the events and again as soon as an event queued mail, so a notification leaves
within moments of its decision rather than at the next tick. Mail a delivery of inbound mail
queued (a new issue's acknowledgement, `connector.outbound.acknowledge`) has its job queued by
that delivery's job as soon as the pipeline is done (`SendJobs.defer`, from
`connector.engine.delivery_jobs`: the queued message comes back from the delivery, so a
delivery that queued no mail costs no statement more), and does not wait for the round
either; the round still queues whatever such a job missed (queueing failed, a worker died).
Any worker runs the jobs, up to `WORKER_CONCURRENCY` at once, so sends no longer go one by one
through one worker's round.

- The queueing lock `send-<message id>`: however often the round finds a message due (or a
  delivery queues its acknowledgement's send meanwhile), one job for it waits in the queue.
- The lock `outbound-<tenant id>`: a tenant's mail goes one message at a time, across all
  workers. Per tenant, because a tenant has one outbound connection (one SMTP server or Graph
  mailbox): a slow or dead server then holds one job slot, however much of that tenant's mail
  waits, and the other tenants' mail goes on the other slots (a lock per server host would
  make tenants that share a provider's host wait for each other). It also keeps us to one
  connection at a time to a tenant's server, which providers limit per account. The price:
  one tenant's burst goes out at one send at a time, as the single round sent all mail before.
- Jobs are never queued for later (a retry's time is left to the round that finds it due):
  procrastinate holds every job of a lock behind a waiting one of the same lock queued
  earlier, even one scheduled later, so a retry queued for its time would hold up the rest
  of the tenant's mail until then.
- A job sends only what it claims (`Outbox.claim`, the claim the round takes, a lease and
  a compare-and-set): a job run twice (a stalled worker's, put back by `connector.recover`)
  or a second job queued while the first ran finds the message sent or held and sends
  nothing. The outcome, the backoff of a retry and giving up are the round's
  (`OutboundWorker.send_one`), so a failing server's mail waits as it did, while other mail
  goes.
"""

from __future__ import annotations

import asyncio
import logging
import time

from procrastinate import App
from procrastinate.jobs import Job

from connector.engine.jobs import FRESH, configured, defer_job, defer_new, in_thread
from connector.outbound.worker import OutboundWorker, SenderFactory, stored_sender
from connector.runtime import Runtime
from connector.storage.outbox import OutboundMessage
from connector.storage.times import utc_now

log = logging.getLogger(__name__)

SEND_LIMIT = 5000  # due messages queued per look
ROUND_LOCK = "outbound"  # the round's queueing lock: one round waits in the queue at most
ROUND_PRIORITY = 0  # procrastinate's default, as the periodic rounds are queued at


class SendJobs:
    """The outbound round and the send jobs of a `connector.engine.queue.QueueEngine`."""

    def __init__(
        self, runtime: Runtime, app: App, *, sender_factory: SenderFactory = stored_sender
    ) -> None:
        self._outbox = runtime.outbox
        self._app = app
        self.worker = OutboundWorker(runtime, sender_factory=sender_factory)

    def register(self, every: str) -> None:
        app = self._app

        @app.task(name="connector.send", queue="sends")
        async def send(message_id: int) -> None:
            await self.send(message_id)

        self._task = send

        @app.periodic(cron=every, periodic_id="outbound")
        @app.task(name="connector.outbound", queue="outbound", queueing_lock=ROUND_LOCK)
        async def outbound_round(timestamp: int) -> None:
            await self.round()

        self._round_task = outbound_round

    async def round_soon(self) -> bool:
        """Queue a round now, beside the periodic ones (a webhook event was just recorded);
        False when one waits in the queue already, which will see the event."""
        stamp = int(time.time())
        return await defer_job(self._round_task, None, ROUND_LOCK, ROUND_PRIORITY, timestamp=stamp)

    async def round(self) -> int:
        """Queue the due mail, decide the webhook events (queueing the sends of the mail
        each made at once) and purge; returns how many sends were queued."""
        loop = asyncio.get_running_loop()
        queued = [await self.defer_due()]

        def queue_sends() -> None:  # on the round's thread, after an event queued mail
            try:
                queued.append(asyncio.run_coroutine_threadsafe(self.defer_due(), loop).result(30))
            except Exception:  # the round's next look queues them
                log.exception("outbound.send_queueing_failed")

        await in_thread(lambda: self.worker.run_once(send=False, on_queued=queue_sends))
        return sum(queued)

    async def defer_due(self) -> int:
        """Queue a send of each due message that has none waiting; returns how many."""
        due = await in_thread(self._outbox.due, utc_now(), SEND_LIMIT)
        return await defer_new(self._app, [self._job(m, tenant) for m, tenant in due])

    async def defer(self, message: OutboundMessage) -> int:
        """Queue the send of mail just queued (a delivery's acknowledgement) now, rather than
        at the round's next look; 1, or 0 when its job waits already or queueing failed."""
        try:
            return await defer_new(self._app, [self._job(message.id, message.tenant_id)])
        except Exception:  # the round's next look queues it
            log.exception("outbound.send_queueing_failed message_id=%s", message.id)
            return 0

    async def send(self, message_id: int) -> str | None:
        """Send the message if it is due; its outcome, or None when it was not."""
        return await in_thread(self.worker.send_one, message_id)

    def _job(self, message_id: int, tenant_id: int) -> Job:
        deferrer = configured(self._task, f"outbound-{tenant_id}", f"send-{message_id}", FRESH)
        return deferrer.make_new_job(message_id=message_id)
