"""The worker's outbound round: decide recorded webhook events, send due mail, purge content.

On SQLite it runs beside the poller (`connector.scheduler`), in one thread of its own so that
a slow mail server never holds up polling; a poll that queued an acknowledgement asks for a
round at once (`send_soon`: one starts, or the running one goes round once more, since it may
have looked for due mail already), so that it does not wait for the next tick. On PostgreSQL
the round only decides and purges, and each due message is sent by a job of its own
(`connector.engine.sends`, `send_one`) with the same claim and outcomes. Every step is
database-driven and leased, so several worker processes may run it; what one cannot finish
(Jira or the mail server unavailable) is retried with backoff and, when
`connector.retry.OUTBOUND` gives up, shown as failed with the last error.

Mail is claimed one message at a time and a round stops after `ROUND_BUDGET`, so one tenant's
slow server delays the others by one timeout at most: a tenant whose server failed in a way
worth retrying is left alone for the rest of the round. Before each send the worker checks
that the site is still active and outbound mail still on, and renews its lease; any error is
that message's failure, never the round's.

Mail is rendered when an event is decided, holding only that event's claim and no database
transaction; a tenant's custom templates render in template worker processes with a budget
(`connector.outbound.rendering`), so a template that would spin is killed after seconds and
the round goes on to the next tenant's events (`connector.outbound.queue` fails that mail).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

from connector import logs
from connector.budget import ReaderUnavailable
from connector.jira.errors import JiraError
from connector.outbound.delivery import MailSender, SendError
from connector.outbound.jira_reader import AppJiraReader
from connector.outbound.notify import Context, JiraReader, decide_event
from connector.outbound.retention import purge_expired
from connector.outbound.site_changes import read_site_changes
from connector.outbound.transport import build_sender
from connector.retry import OUTBOUND, Quarantine
from connector.runtime import Runtime
from connector.storage.outbox import FAILED, RETRY, SENT, OutboundMessage
from connector.storage.times import utc_now
from connector.storage.webhook_events import FAILED as EVENT_FAILED
from connector.storage.webhook_events import HANDLED, WebhookEvent
from connector.tenant import Tenant
from descriptor.render import message_property_key

log = logging.getLogger(__name__)

PURGE_EVERY = timedelta(hours=1)
# How long one round may keep sending before it makes way for the next tick (and the purge).
ROUND_BUDGET = timedelta(seconds=60)

ReaderFactory = Callable[[Runtime, Tenant], JiraReader]
SenderFactory = Callable[[Runtime, int], MailSender]


def app_reader(runtime: Runtime, tenant: Tenant) -> JiraReader:
    return AppJiraReader.for_tenant(
        tenant, app_key=runtime.settings.app_key, sessions=runtime.jira_sessions
    )


def stored_sender(runtime: Runtime, tenant_id: int) -> MailSender:
    stored = runtime.outbound.connection(tenant_id)
    if stored is None:
        raise SendError("no outbound connection is set up", retryable=False, step="configure")
    return build_sender(runtime, tenant_id, stored.spec)


@dataclass
class RoundResult:
    events: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    purged: int = 0
    lost: int = 0  # claimed by another worker after our lease ran out: not ours to send


class OutboundWorker:
    def __init__(
        self,
        runtime: Runtime,
        *,
        reader_factory: ReaderFactory = app_reader,
        sender_factory: SenderFactory = stored_sender,
    ) -> None:
        self._runtime = runtime
        self._repository = runtime.outbound
        self._outbox = runtime.outbox
        self._events = runtime.webhook_events
        self._reader_factory = reader_factory
        self._sender_factory = sender_factory
        self._last_purge: datetime | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running = False  # a round runs in the background (`start_round`)
        self._again = False  # and goes round once more when it ends

    # -- running beside the scheduler ----------------------------------------------------

    def start_round(self, *, again: bool = False) -> bool:
        """Start a round in the background unless one is still running. With `again` (mail
        was just queued, which a running round may have looked for already), a running
        round goes round once more when it ends."""
        with self._lock:
            if self._running:
                self._again = self._again or again
                return False
            self._running, self._again = True, False
            self._thread = threading.Thread(target=self._rounds, name="outbound", daemon=True)
            self._thread.start()
            return True

    def send_soon(self) -> None:
        """Mail was queued outside a round (a new issue's acknowledgement): send it now
        rather than at the next tick. Any thread; returns at once."""
        self.start_round(again=True)

    def join(self, timeout: float = 30.0) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _rounds(self) -> None:
        done = False
        try:
            while not done:
                try:
                    self.run_once()
                except Exception:  # a database hiccup must not end the worker; next tick tries
                    log.exception("outbound.round_failed")
                with self._lock:  # ends or goes again under the lock `send_soon` takes
                    done = not self._again
                    self._running, self._again = not done, False
        finally:
            if not done:  # the thread ended otherwise: the next tick must start a round
                with self._lock:
                    self._running = False

    # -- one round -----------------------------------------------------------------------

    def run_once(
        self,
        now: datetime | None = None,
        *,
        send: bool = True,
        on_queued: Callable[[], None] | None = None,
    ) -> RoundResult:
        """One round. Without `send` the mail is left for jobs of its own (`send_one`, run by
        `connector.engine.sends` on PostgreSQL); `on_queued` is called each time a decided
        event queued mail, whose sends may go at once."""
        now = now or utc_now()
        result = RoundResult()
        try:
            # Sites without an install send no webhooks: their changes are read instead, and
            # the events just recorded are due in this round.
            if read_site_changes(self._runtime, now):
                now = max(now, utc_now())
        except Exception:  # one site's trouble must not hold up the mail of all
            log.exception("outbound.site_changes_failed")
        for event in self._events.claim_due(now):
            if self._decide(event, now) and on_queued is not None:
                on_queued()
            result.events += 1
        deadline = time.monotonic() + ROUND_BUDGET.total_seconds()
        waiting: set[int] = set()  # tenants whose server asked us to come back later
        while send and time.monotonic() < deadline:
            # Mail queued by the events just decided is due at once: look again at the clock.
            now = max(now, utc_now())
            message = self._outbox.claim_next(now, skip_tenants=waiting)
            if message is None:
                break
            outcome = self._send(message, now)
            if outcome == "retried":
                waiting.add(message.tenant_id)
            setattr(result, outcome, getattr(result, outcome) + 1)
        if self._last_purge is None or now - self._last_purge >= PURGE_EVERY:
            self._last_purge = now
            result.purged = purge_expired(self._runtime, now)
        return result

    def send_one(self, message_id: int, now: datetime | None = None) -> str | None:
        """Send this message if it is due, as the round would (claimed under a lease, so a
        second run, or another worker, finds it taken or finished and sends nothing); its
        outcome (`sent`, `retried`, `failed`, `lost`), or None when it was not due."""
        now = now or utc_now()
        message = self._outbox.claim(message_id, now)
        return None if message is None else self._send(message, now)

    def purge_now(self, now: datetime | None = None) -> int:
        return purge_expired(self._runtime, now or utc_now())

    def _decide(self, event: WebhookEvent, now: datetime) -> bool:
        """Decide the event; True when it was handled (mail was queued, or had been)."""
        tenant = self._runtime.tenants.by_id(event.tenant_id)
        if tenant is None or not tenant.active:
            self._events.finish(event.id, "ignored", "the Jira site is not active")
            return False
        stored = self._repository.connection(tenant.id)
        ctx = Context(
            runtime=self._runtime,
            tenant=tenant,
            spec=stored.spec if stored else None,
            settings=self._repository.settings(tenant.id),
            jira=self._reader_factory(self._runtime, tenant),
            message_property_key=message_property_key(self._runtime.settings.app_key),
        )
        try:
            decision = decide_event(ctx, event)
        except JiraError as exc:
            self._later_or_failed(event, f"Jira: {exc}", now, exc.retryable, exc.retry_after)
            return False
        except ReaderUnavailable as exc:  # this host's worker processes, not the event's fault
            self._later_or_failed(event, str(exc), now, True)
            return False
        except Exception as exc:
            log.exception("outbound.event_failed event_id=%s", event.id)
            self._events.finish(event.id, EVENT_FAILED, f"internal error: {type(exc).__name__}")
            return False
        self._events.finish(event.id, decision.status, decision.reason)
        logs.event(
            log,
            "outbound.event",
            client_key=tenant.client_key,
            event_id=event.id,
            outcome=decision.status,
        )
        return decision.status == HANDLED

    def _later_or_failed(
        self,
        event: WebhookEvent,
        reason: str,
        now: datetime,
        retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        retry_at = OUTBOUND.next_attempt(event.attempts, now, retry_after)
        if retryable and not isinstance(retry_at, Quarantine):
            self._events.postpone(event.id, reason, retry_at)
        else:
            self._events.finish(event.id, EVENT_FAILED, reason)

    def _send(self, message: OutboundMessage, now: datetime) -> str:
        raw = self._outbox.raw(message.id)
        if raw is None:
            return self._give_up(message, "the content was purged (retention)")
        held = self._why_held(message)
        if held is not None:
            return self._give_up(message, held)
        # Just before the send, so a lease that ran out while we were busy is never used.
        renewed = self._outbox.renew(message, utc_now())
        if renewed is None:
            logs.event(log, "outbound.lease_lost", logging.WARNING, message_id=message.id)
            return "lost"
        try:
            sender = self._sender_factory(self._runtime, message.tenant_id)
            sender.send(_parse(raw))
        except SendError as exc:
            return self._failed_send(renewed, exc, now)
        except Exception as exc:  # one broken message must not stop the round or the purge
            log.exception("outbound.send_crashed message_id=%s", message.id)
            detail = f"{type(exc).__name__}: {exc}"[:500]
            return self._give_up(renewed, f"internal error: {detail}")
        if not self._outbox.finish(renewed, SENT):
            logs.event(log, "outbound.lease_lost", logging.WARNING, message_id=message.id)
        self._repository.record_status(message.tenant_id, ok=True, message="sent")
        logs.event(log, "outbound.sent", message_id=message.id, kind=message.kind)
        return "sent"

    def _why_held(self, message: OutboundMessage) -> str | None:
        """Why this message may not leave now (the site or the admin said stop), or None."""
        tenant = self._runtime.tenants.by_id(message.tenant_id)
        if tenant is None or not tenant.active:
            return "not sent: the app is disabled or uninstalled on this Jira site"
        stored = self._repository.connection(message.tenant_id)
        if stored is None or not stored.spec.enabled:
            return "not sent: outbound mail was turned off"
        if message.kind == "notification" and not self._repository.settings(tenant.id).enabled:
            return "not sent: notifications were turned off for this site"
        return None

    def _give_up(self, message: OutboundMessage, error: str) -> str:
        self._outbox.finish(message, FAILED, error)
        logs.event(
            log, "outbound.not_sent", logging.WARNING, message_id=message.id, reason=error[:80]
        )
        return "failed"

    def _failed_send(self, message: OutboundMessage, exc: SendError, now: datetime) -> str:
        error = f"{exc.step}: {exc}"
        if exc.step != "configure":
            self._repository.record_status(message.tenant_id, ok=False, message=error)
        retry_at = OUTBOUND.next_attempt(message.attempts, now, exc.retry_after)
        if not exc.retryable:
            self._outbox.finish(message, FAILED, error)
            outcome = "failed"
        elif isinstance(retry_at, Quarantine):
            self._outbox.finish(message, FAILED, retry_at.reason(error))
            outcome = "failed"
        else:
            self._outbox.finish(message, RETRY, error, retry_at=retry_at)
            outcome = "retried"
        logs.event(
            log,
            "outbound.send_failed",
            logging.WARNING,
            message_id=message.id,
            attempt=message.attempts,
            outcome=outcome,
        )
        return outcome


def _parse(raw: bytes) -> EmailMessage:
    parsed = message_from_bytes(raw, policy=policy.SMTP)
    assert isinstance(parsed, EmailMessage)
    return parsed
