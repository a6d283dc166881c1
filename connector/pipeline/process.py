"""`Pipeline.process`: one attempt at one message, from its bytes to its email-log ending.

The steps, each in its own module of this package: read the message and check its sender
within one budget (`reading`, `sender_check`), route it by its recipients (`routes`), gather
the facts (`gather`), decide (`decide`, pure), carry the decision out in Jira (`deliver`) and
record the ending (`record`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from connector import logs
from connector.budget import OverBudget, ReaderUnavailable
from connector.drafts import IssueInfo, IssueTracker, ServiceDesk
from connector.jira.errors import JiraError
from connector.jsm import ServiceDeskSteps
from connector.mail.inbound import UnparseableEmail
from connector.mail_fields import FieldMap
from connector.mail_source import MailSource
from connector.outcomes import Outcome
from connector.pipeline.decide import (
    Case,
    Create,
    Drop,
    Duplicate,
    LookUp,
    Quarantine,
    Thread,
    classification_step,
    settling,
)
from connector.pipeline.deliver import Delivery
from connector.pipeline.gather import decide_asking, gather_facts, needs_account_fact
from connector.pipeline.message import Message, Trail
from connector.pipeline.reading import MessageReader, reader_for
from connector.pipeline.record import Processed, Recorder
from connector.pipeline.routes import Route, own_domains, resolve_route
from connector.pipeline.sender_check import SenderChecking, no_keys, trusted_servers
from connector.pipeline.understanding import Understanding
from connector.retry import INBOUND_MAIL
from connector.routing.match import message_id_digest, raw_digest
from connector.senders.outcome import SenderAuthentication
from connector.senders.signatures import KeyLookup
from connector.settings import ReadingLimits
from connector.storage.email_log import EmailLog, LogEntry
from connector.storage.threads import ParticipantRepository, ThreadRepository
from connector.storage.times import utc_now

log = logging.getLogger(__name__)

NO_FIELDS = FieldMap()


class Pipeline:
    def __init__(
        self,
        *,
        tracker: IssueTracker,
        email_log: EmailLog,
        threads: ThreadRepository,
        participants: ParticipantRepository,
        field_map: FieldMap = NO_FIELDS,
        loop_header_value: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        service_desk: ServiceDesk | None = None,
        reader: MessageReader | None = None,
        key_lookup: KeyLookup = no_keys,
        own_addresses: tuple[str, ...] = (),
    ) -> None:
        """`key_lookup` fetches DKIM keys (DNS in production, `Runtime.key_lookup`);
        `own_addresses` are ours besides the source's (the outbound From:)."""
        self._tracker = tracker
        self._log = email_log
        self._threads = threads
        self._loop_value = loop_header_value
        self._clock = clock
        self._reader = reader or reader_for(ReadingLimits())
        self._key_lookup = key_lookup
        self._own_addresses = own_addresses
        self._record = Recorder(email_log, clock)
        self._deliver = Delivery(
            tracker=tracker,
            jsm=ServiceDeskSteps(service_desk, tracker) if service_desk else None,
            threads=threads,
            participants=participants,
            field_map=field_map,
            recorder=self._record,
        )

    def process(self, source: MailSource, entry: LogEntry, raw: bytes) -> Processed:
        waiting = settling(
            attempts=entry.attempts,
            described=entry.message_id_digest is not None,
            scheduled=entry.next_attempt_at is not None,
            updated_at=entry.updated_at,
            now=self._clock(),
        )
        if waiting is not None:
            logs.event(log, "mail.settling", entry_id=entry.id, until=waiting.until.isoformat())
            return self._record.postpone(entry, waiting.reason, waiting.until, entry.trail)
        trail = Trail()
        attempt = self._log.start_attempt(entry.id)
        trail.add(f"attempt {attempt}")
        if entry.process_anyway:
            source = source.with_filters_off()
            trail.add("an admin asked to process it anyway: the source's filters are off")
        # The DKIM keys before the reading, so that one reader task reads the message and
        # checks its sender. This is DNS in production, and it now runs for every message,
        # also for one that fails routing later.
        checking = SenderChecking.fetch(
            raw,
            servers=trusted_servers(source.spec),
            lookup=self._key_lookup,
            own_domains=own_domains(source.spec, *self._own_addresses),
        )
        sender_auth: SenderAuthentication | None = None
        try:
            try:
                understanding, sender_auth = self._reader.read_and_check(
                    raw, checking, loop_header_value=self._loop_value, tenant=source.tenant_id
                )
            except (OverBudget, ReaderUnavailable) as exc:
                # The one budget covered reading and checking together. Over it (or without
                # workers), each goes again alone, with a budget of its own: mail merely slow
                # to check is still read whole, and the worst case for hostile mail is one
                # budget more than when reading and checking never shared a task.
                logs.event(log, "mail.read_and_check_apart", entry_id=entry.id, why=str(exc))
                understanding = self._reader.understand(
                    raw, loop_header_value=self._loop_value, tenant=source.tenant_id
                )
        except UnparseableEmail as exc:
            return self._record.finish(entry, Outcome.FAILED, f"not an email: {exc.reason}", trail)
        except ReaderUnavailable as exc:
            return self._record.retry_later(entry, str(exc), attempt, trail)
        except OverBudget as exc:
            # Not retried: it would go over again. The stand-in keeps the headers (so a reply
            # still threads) and carries the original as an attachment.
            logs.event(log, "mail.over_budget", entry_id=entry.id, kind=exc.kind)
            trail.add(f"not read: it {exc.reason}; going on with its headers")
            trail.unreadable = exc.reason
            understanding = self._reader.unreadable(
                raw, exc.reason, loop_header_value=self._loop_value, tenant=source.tenant_id
            )
        email = understanding.email
        for note in understanding.notes:
            trail.add(note)
        digest = message_id_digest(email.message_id) if email.message_id else raw_digest(raw)
        # Routed first, so the log says where the message was headed whatever happens next;
        # written with the description (one statement) the first time. A failure to route is
        # quarantined below like any other unexpected one, once the message is described.
        route: Route | None = None
        unroutable: Exception | None = None
        try:
            route = resolve_route(source.spec, email.headers)
        except Exception as exc:
            unroutable = exc
        if entry.message_id_digest is None:  # first time, or a crash came before this
            self._log.describe(
                entry.id,
                message_id=email.message_id,
                digest=digest,
                sender=email.sender.address if email.sender else "",
                sender_name=email.sender.name if email.sender else "",
                subject=email.subject,
                headers=email.headers,
                raw=raw,
                route=None if route is None else route.to_json(),
            )
        elif route is not None:
            self._log.record_route(entry.id, route.to_json())
        try:
            if route is None:
                raise unroutable or LookupError("no route")
            for step in route.trail():
                trail.add(step)
            if sender_auth is None:  # the check could not share the reading's task
                sender_auth = self._check_sender(source, raw, understanding, checking)
            trail.add(sender_auth.summary)
            if sender_auth.retryable and not INBOUND_MAIL.gives_up(attempt):
                return self._record.retry_later(entry, sender_auth.summary, attempt, trail)
            msg = Message(source, entry, understanding, digest, attempt, trail, route, sender_auth)
            return self._decide_and_deliver(msg, sender_auth)
        except JiraError as exc:
            return self._record.failed_call(entry, exc, attempt, trail)
        except Exception as exc:
            # Anything unexpected is quarantined with its traceback, never retried blindly.
            log.exception("pipeline.quarantined entry_id=%s", entry.id)
            reason = f"internal error: {type(exc).__name__}"
            return self._record.finish(entry, Outcome.FAILED, reason, trail)

    def _check_sender(
        self,
        source: MailSource,
        raw: bytes,
        understanding: Understanding,
        checking: SenderChecking,
    ) -> SenderAuthentication:
        """The sender check in a task of its own, with the keys fetched for the shared one."""
        sender = understanding.email.sender
        arguments = checking.arguments(raw, sender.address if sender else None)
        return self._reader.authenticate(arguments, tenant=source.tenant_id)

    def _decide_and_deliver(self, msg: Message, sender_auth: SenderAuthentication) -> Processed:
        source, trail = msg.source, msg.trail
        trail.add(classification_step(msg.understanding.classification))
        case = Case(msg.understanding, msg.route, source.spec, msg.attempt, sender_auth)
        facts = gather_facts(
            case,
            msg.digest,
            tenant_id=source.tenant_id,
            threads=self._threads,
            email_log=self._log,
            now=self._clock(),
        )
        if needs_account_fact(case):
            sender = msg.understanding.email.sender
            found = self._tracker.find_person(sender.address) if sender else None
            facts = replace(facts, sender_has_account=found is not None)
        decision = decide_asking(case, facts, lambda lookup: self._issue_info(lookup, trail))
        for step in decision.steps:
            trail.add(step)
        match decision:
            case Drop(reason=reason):
                return self._record.finish(msg.entry, Outcome.IGNORED, reason, trail)
            case Quarantine(reason=reason):
                return self._record.finish(msg.entry, Outcome.FAILED, reason, trail)
            case Duplicate(issue_key=key):
                reason = decision.reason
                return self._record.finish(
                    msg.entry, Outcome.DUPLICATE, reason, trail, issue_key=key
                )
            case Thread():
                return self._deliver.comment(msg, decision)
            case Create():
                return self._deliver.create(msg, decision)

    def _issue_info(self, lookup: LookUp, trail: Trail) -> IssueInfo | None:
        try:
            return self._tracker.issue_info(lookup.issue_key)
        except JiraError:
            for step in lookup.steps:  # the trail names the issue Jira could not tell about
                trail.add(step)
            raise
