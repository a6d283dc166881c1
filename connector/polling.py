"""Poll one source: retries due from the log, then new mail from the mailbox.

Order per message (DESIGN.md, "Processing rules"; `connector.sources.base`):
record in the email log -> process -> post-action -> advance and store the cursor. A crash
anywhere leaves the cursor before the message, so it is listed again and finds its log row.
A message postponed because Jira is unavailable keeps its raw bytes (encrypted) in the log
and is retried from there, so the cursor moves on and the mailbox is not held up; its
post-action waits until it is done, which means it stays unread in the mailbox meanwhile.

With the queue engine a poll only fetches (`connector.handoff`): each message is recorded,
stored and handed to a delivery job of its own before the cursor moves past it; its
post-action is done by the next fetch once it is final.

Polling only orchestrates: the pipeline (with its Jira tracker) and what follows a new issue
come in as an `Inbound`, which `connector.wiring` builds; this module imports neither
`connector.jira` nor `connector.outbound`.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from connector import logs
from connector.delivery_order import order_keys
from connector.handoff import Handoff, claim_kept, hand_over, settle_post_actions
from connector.mail_source import MailSource
from connector.oauth_store import token_provider
from connector.outcomes import Outcome
from connector.pipeline.process import Pipeline
from connector.pipeline.record import Processed
from connector.poll_lease import LEASE_SECONDS as LEASE_SECONDS
from connector.poll_lease import SourceLease, lease_kept
from connector.retry import poll_backoff
from connector.runtime import Runtime
from connector.sources import open_source
from connector.sources.base import Cursor, MessageRef, cursor_from_json
from connector.sources.base import MailSource as MailboxPort
from connector.sources.config import SourceConfig
from connector.sources.errors import (
    MessageTooLarge,
    MessageVanished,
    SourceAuthError,
    SourceError,
)
from connector.storage.email_log import LogEntry
from connector.storage.outbox import OutboundMessage
from connector.storage.times import utc_now
from connector.tenant import Tenant

log = logging.getLogger(__name__)

# What one poll of a worker takes at most: a mailbox with more waiting is polled again at
# once, so a backlog drains batch after batch while other sources get their turn between.
POLL_BATCH = 100
BATCH_SIZE = 32  # messages held in memory at once, fetched before processing
PARALLEL_MESSAGES = 4  # per poll; with the scheduler's 2 polls per tenant, 8 Jira calls at most


@dataclass
class _Work:
    ref: MessageRef
    entry: LogEntry
    raw: bytes | None
    post_action: bool | None = None  # decided without the pipeline: run mark_done(success)
    future: Future[Processed] | None = None
    queued: bool = False  # its delivery was queued before (a fetch cut short): hand it again


@dataclass(frozen=True)
class PollResult:
    ok: bool
    message: str
    counts: dict[str, int] = field(default_factory=dict)
    skipped: bool = False
    # The listing was cut at the poll's limit: more mail is waiting, poll again at once.
    more: bool = False
    # Another poll of the source held its lease: nothing was done; try again shortly.
    busy: bool = False


class Inbound(Protocol):
    """What a poll is given, so that it only orchestrates: the pipeline for a source's mail
    (with its Jira tracker) and what follows a new issue. `connector.wiring` builds it."""

    def pipeline(self, source: MailSource, tenant: Tenant) -> Pipeline: ...

    def issue_created(self, tenant: Tenant, issue_key: str) -> OutboundMessage | None:
        """What follows a new issue; the mail it queued to send (an acknowledgement), if any."""
        ...

    def jira_pending(self, tenant: Tenant) -> str | None:
        """Why the tenant's Jira cannot be called now (say, a token not handed over yet)."""
        ...


def run_poll(
    runtime: Runtime,
    source_id: int,
    inbound: Inbound,
    *,
    owner: str,
    limit: int = 500,
    lease_seconds: float = LEASE_SECONDS,
    handoff: Handoff | None = None,
) -> PollResult:
    """Poll the source once, unless another poll of it holds the lease. With a `handoff` the
    poll only fetches: the messages are delivered by the jobs it queues."""
    if not runtime.sources.lease(source_id, owner, lease_seconds):
        return PollResult(False, "another poll of this source is running", skipped=True, busy=True)
    lease = SourceLease(runtime, source_id, owner, lease_seconds)
    try:
        with lease_kept(lease):
            return _leased_poll(runtime, source_id, inbound, limit, handoff, lease)
    finally:
        lease.give_up()


def _leased_poll(
    runtime: Runtime,
    source_id: int,
    inbound: Inbound,
    limit: int,
    handoff: Handoff | None,
    lease: SourceLease,
) -> PollResult:
    source = runtime.sources.find(source_id)
    tenant = runtime.tenants.get(source.client_key) if source else None
    if source is None or tenant is None or not tenant.active:
        return PollResult(False, "source or its Jira site is not active", skipped=True)
    pending = inbound.jira_pending(tenant)
    if pending is not None:
        # Jira cannot be called now (a token not handed over yet): the mailbox is left as
        # it is and the source says why, without counting as a failure.
        lease.record_poll(ok=True, message=pending, next_poll_at=_next_poll(source, utc_now()))
        return PollResult(False, pending, skipped=True)
    poll = _Poll(runtime, source, tenant, inbound, lease, handoff)
    return poll.run(limit)


class _Poll:
    def __init__(
        self,
        runtime: Runtime,
        source: MailSource,
        tenant: Tenant,
        inbound: Inbound,
        lease: SourceLease,
        handoff: Handoff | None = None,
    ) -> None:
        self._runtime = runtime
        self._source = source
        self._tenant = tenant
        self._inbound = inbound
        self._lease = lease
        self._handoff = handoff
        self._counts: Counter[Outcome] = Counter()
        self._queued = 0
        self._built: Pipeline | None = None

    @property
    def _pipeline(self) -> Pipeline:
        """Built on first use: its Jira client, field map and sender addresses take queries
        that a poll finding no mail (most of them), or one that only fetches, does not need."""
        if self._built is None:
            self._built = self._inbound.pipeline(self._source, self._tenant)
        return self._built

    def run(self, limit: int) -> PollResult:
        source = self._source
        started = utc_now()
        try:
            self._retry_due(started)
            first_connected, listed = self._read_mailbox(limit)
        except SourceAuthError as exc:
            return self._failed(f"login refused: {exc.server_message or exc}")
        except SourceError as exc:
            return self._failed(str(exc))
        counts = self._plain_counts()
        message = _summary(counts)
        self._lease.record_poll(
            ok=True,
            message=message,
            next_poll_at=_next_poll(source, utc_now()),
            first_connected_at=first_connected,
        )
        logs.event(log, "source.polled", source=source.label, outcome="ok", **counts)
        return PollResult(True, message, counts, more=listed >= limit)

    def _retry_due(self, now: datetime) -> None:
        if self._handoff is not None:
            self._handoff.requeue(self._source)
            return
        runtime = self._runtime
        pipeline = self._pipeline
        for entry in runtime.email_log.pending_retries(self._source.id, now):
            # Claimed like a delivery job would, so one never runs beside this attempt.
            with claim_kept(runtime.deliveries, entry.id) as claimed:
                if claimed is not None:
                    self._count(pipeline.process(self._source, claimed.entry, claimed.raw))

    def _read_mailbox(self, limit: int) -> tuple[datetime | None, int]:
        """The first connection's time (or None) and how many messages were listed."""
        source, runtime = self._source, self._runtime
        config = source_config(runtime, source)
        first_connected = None
        with open_source(config) as mailbox:
            if source.cursor is None:
                # First connection: start at the end; older mail only if the admin asked.
                cursor: Cursor = mailbox.baseline()
                first_connected = utc_now()
                runtime.sources.save_cursor(source.id, cursor.to_json())
            else:
                cursor = cursor_from_json(source.cursor)
            listing = mailbox.list_new(cursor, limit=limit)
            cursor = listing.cursor
            if cursor.to_json() != source.cursor:  # an idle poll leaves it as it was
                runtime.sources.save_cursor(source.id, cursor.to_json())
            if self._handoff is not None:
                settle_post_actions(
                    runtime.deliveries,
                    source,
                    cursor,
                    lambda refs, success: self._post_actions(mailbox, refs, success),
                )
            refs = list(listing.refs)
            for offset in range(0, len(refs), BATCH_SIZE):
                batch = refs[offset : offset + BATCH_SIZE]
                work = [self._take(mailbox, ref) for ref in batch]
                outcomes = self._hand(work) if self._handoff else self._process_batch(work)
                # Post-actions, one command per outcome for the whole batch, once it is all
                # recorded; then the cursor moves past it.
                for success in (True, False):
                    done = [ref for ref in batch if outcomes.get(ref.key) is success]
                    self._post_actions(mailbox, done, success)
                if self._handoff is not None:
                    decided = [w.entry.id for w in work if w.post_action is not None]
                    runtime.deliveries.post_actions_done(decided)
                for ref in batch:
                    cursor = cursor.advanced(ref)
                runtime.sources.save_cursor(source.id, cursor.to_json())
        return first_connected, len(refs)

    def _take(self, mailbox: MailboxPort, ref: MessageRef) -> _Work:
        """Record the message and fetch it; what is already decided needs no fetch."""
        source = self._source
        email_log = self._runtime.email_log
        entry = email_log.begin(source.tenant_id, source.id, ref.key, size=ref.size)
        if entry.final:
            # Recorded before a crash that came before the post-action: finish the job.
            return _Work(ref, entry, None, post_action=entry.outcome is not Outcome.FAILED)
        if entry.next_attempt_at is not None:
            return _Work(ref, entry, None)  # postponed: the retry comes from the log
        if entry.thread_key is not None:  # its delivery was queued by an earlier fetch
            return _Work(ref, entry, None, queued=self._handoff is not None)
        try:
            return _Work(ref, entry, mailbox.fetch(ref))
        except MessageTooLarge as exc:
            email_log.finish(entry.id, Outcome.FAILED, f"too large: {exc}")
            self._counts[Outcome.FAILED] += 1
            return _Work(ref, entry, None, post_action=False)
        except MessageVanished:
            reason = "removed from the mailbox before it was read"
            email_log.finish(entry.id, Outcome.FAILED, reason)
            self._counts[Outcome.FAILED] += 1
            return _Work(ref, entry, None)

    def _hand(self, work: list[_Work]) -> dict[str, bool]:
        """Store each message and queue its delivery (`connector.handoff`); only what was
        decided without the pipeline has a post-action now."""
        handoff = self._handoff
        assert handoff is not None
        taken = [(w.entry, w.raw) for w in work if w.raw is not None or w.queued]
        handed = hand_over(self._runtime.deliveries, self._source.tenant_id, taken)
        handoff.hand(self._source, handed)
        self._queued += len(handed)
        return {w.ref.key: w.post_action for w in work if w.post_action is not None}

    def _process_batch(self, work: list[_Work]) -> dict[str, bool]:
        """Run the pipeline over a batch, `PARALLEL_MESSAGES` at a time.

        Jira's latency, not our CPU, bounds throughput, so messages go in parallel; but a
        message waits for any earlier one in the batch that it replies to or that carries the
        same Message-ID, so threading and duplicate detection see what came first.
        """
        post_actions = {w.ref.key: w.post_action for w in work if w.post_action is not None}
        todo = [w for w in work if w.raw is not None]
        if not todo:
            return post_actions
        latest: dict[str, Future[Processed]] = {}
        with ThreadPoolExecutor(PARALLEL_MESSAGES, thread_name_prefix="message") as pool:
            for item in todo:
                after, provides = order_keys(item.raw or b"")
                waits = list({id(f): f for k in after if (f := latest.get(k))}.values())
                item.future = pool.submit(self._process_after, waits, item)
                for key in provides:
                    latest[key] = item.future
        for item in todo:
            if item.future is None:
                continue
            outcome = item.future.result()
            self._count(outcome)
            if outcome.final:
                post_actions[item.ref.key] = outcome.outcome is not Outcome.FAILED
        return post_actions

    def _process_after(self, waits: list[Future[Processed]], item: _Work) -> Processed:
        for earlier in waits:
            earlier.exception()  # wait; its own failure is recorded in its own log row
        return self._pipeline.process(self._source, item.entry, item.raw or b"")

    def _post_actions(self, mailbox: MailboxPort, refs: list[MessageRef], success: bool) -> None:
        if not refs:
            return
        try:
            mailbox.mark_done_many(refs, success)
        except MessageVanished:
            # Someone else moved or deleted one meanwhile: do the rest one by one.
            for ref in refs:
                with contextlib.suppress(MessageVanished):
                    mailbox.mark_done(ref, success)

    def _count(self, outcome: Processed) -> None:
        self._counts[outcome.outcome] += 1
        if outcome.outcome is Outcome.CREATED and outcome.issue_key:
            # Only new issues are acknowledged (when the tenant turned it on): auto-replies,
            # bounces and ignored senders end `ignored` and never get one.
            self._inbound.issue_created(self._tenant, outcome.issue_key)

    def _plain_counts(self) -> dict[str, int]:
        """The counts by outcome word, as plain strings: printed, they read as before; and
        how many messages were queued for delivery."""
        counts = {outcome.value: number for outcome, number in self._counts.items()}
        if self._queued:
            counts["queued"] = self._queued
        return counts

    def _failed(self, message: str) -> PollResult:
        source = self._source
        failures = source.consecutive_failures + 1
        backoff = poll_backoff(timedelta(minutes=source.spec.interval_minutes))
        self._lease.record_poll(
            ok=False, message=message, next_poll_at=utc_now() + backoff.delay(failures)
        )
        logs.event(
            log, "source.poll_failed", logging.WARNING, source=source.label, failures=failures
        )
        return PollResult(False, message, self._plain_counts())


def _next_poll(source: MailSource, now: datetime) -> datetime:
    """The next poll after the interval, with up to 10% jitter so sources set up together do
    not all poll in the same second."""
    interval = timedelta(minutes=source.spec.interval_minutes)
    return now + interval + interval * random.random() * 0.1  # noqa: S311 - jitter


def _summary(counts: dict[str, int]) -> str:
    """ "2 created, 1 failed"; a poll that only fetched says what it left to delivery."""
    if not counts:
        return "no new mail"
    words = {"queued": "queued for delivery"}
    return ", ".join(
        f"{number} {words.get(outcome, outcome)}" for outcome, number in sorted(counts.items())
    )


def source_config(runtime: Runtime, source: MailSource) -> SourceConfig:
    """How to connect to the source's mailbox, with its stored secret (polls and push)."""
    if source.spec.uses_oauth:
        # Renewed before expiry; a refusal (e.g. invalid_grant) is a SourceAuthError, so
        # the status shows the provider's words, the poll backs off and the cursor stays.
        return source.spec.connection_config(
            password=None,
            access_token=token_provider(runtime.sources, source),
            source_id=source.label,
            host_policy=runtime.host_policy,
        )
    return source.spec.connection_config(
        password=runtime.sources.password(source.id),
        source_id=source.label,
        host_policy=runtime.host_policy,
    )
