"""One message through: dedupe -> parse -> filter -> route -> deliver -> record.

The caller has already written the message's email-log row (`EmailLog.begin`): that row is
the exactly-once ledger. Here the message reaches a final outcome exactly once, or is
postponed for a retry when Jira is unavailable; after `MAX_ATTEMPTS` it is quarantined
(outcome `failed`) so one bad message never blocks a mailbox. Every decision is appended to
the row's trail in words an admin can read.

Crash safety: the issue (or comment) is created with the message's digest as an entity
property in the same call. If we die between Jira's answer and our commit, the next attempt
finds that property and records the existing issue instead of creating a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector import logs
from connector.budget import OverBudget, ReaderUnavailable
from connector.drafts import CommentDraft, IssueDraft, IssueTracker, JiraPerson, ServiceDesk
from connector.jira.client import JiraError
from connector.jsm import ServiceDeskSteps
from connector.mail.inbound import InboundEmail, MailAttachment, UnparseableEmail
from connector.mail_fields import FieldMap, custom_field_values, with_author_line
from connector.mail_source import MailSource, SourcePolicy
from connector.outcomes import Outcome
from connector.reading import MessageReader, reader_for
from connector.routes import Route, is_own_address, resolve_route
from connector.routing.filters import automatic_mail_reason, rate_reason, sender_reason
from connector.routing.match import (
    ThreadMatch,
    clean_subject,
    match_thread,
    message_id_digest,
    raw_digest,
    thread_digests,
)
from connector.settings import ReadingLimits
from connector.storage.email_log import EmailLog, LogEntry
from connector.storage.models import utc_now
from connector.storage.threads import Participant, ParticipantRepository, ThreadRepository
from connector.understanding import FULL_TEXT_FILENAME, Understanding

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Jira indexes entity properties for JQL a little after the write. An attempt cut short (a
# crash, a kill) may have created the issue without our knowing; the next attempt finds it by
# that property, so it waits until the index has caught up with the interrupted one.
INDEX_SETTLE = timedelta(seconds=60)
# Backoff per attempt when Jira gives no Retry-After: 1, 5, 15, 60 minutes.
BACKOFF_MINUTES = (1, 5, 15, 60)
NO_FIELDS = FieldMap()


@dataclass(frozen=True)
class Processed:
    """What one attempt came to, for the poll: its counts, post-action and acknowledgement."""

    outcome: Outcome  # a final outcome, or `pending` when postponed
    reason: str
    issue_key: str | None = None
    retry_at: datetime | None = None

    @property
    def final(self) -> bool:
        return self.outcome.final


@dataclass
class _Trail:
    steps: list[str] = field(default_factory=list)
    unreadable: str | None = None  # why the message could not be read within its budget

    def add(self, step: str) -> None:
        self.steps.append(step)


@dataclass(frozen=True)
class _Message:
    """One message on its way through, with what is known about it so far."""

    source: MailSource
    entry: LogEntry
    understanding: Understanding
    digest: str  # of the Message-ID (or of the bytes when there is none)
    attempt: int
    trail: _Trail
    route: Route  # project, issue type and issue defaults chosen by the recipient address

    def parts(self) -> tuple[MailSource, LogEntry, Understanding, str, int, _Trail]:
        return self.source, self.entry, self.understanding, self.digest, self.attempt, self.trail

    def is_ours(self, address: str) -> bool:
        return is_own_address(self.source.spec, address)


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
    ) -> None:
        self._tracker = tracker
        self._jsm = ServiceDeskSteps(service_desk, tracker) if service_desk else None
        self._log = email_log
        self._threads = threads
        self._participants = participants
        self._fields = field_map
        self._loop_value = loop_header_value
        self._clock = clock
        self._reader = reader or reader_for(ReadingLimits())

    def process(self, source: MailSource, entry: LogEntry, raw: bytes) -> Processed:
        settled_at = _index_settles_at(entry)
        if settled_at is not None and settled_at > self._clock():
            reason = "an earlier attempt was interrupted; waiting for Jira's search index"
            self._log.postpone(entry.id, reason, settled_at, entry.trail)
            logs.event(log, "mail.settling", entry_id=entry.id, until=settled_at.isoformat())
            return Processed(Outcome.PENDING, reason, retry_at=settled_at)
        trail = _Trail()
        attempt = self._log.start_attempt(entry.id)
        trail.add(f"attempt {attempt}")
        try:
            understanding = self._reader.understand(
                raw, loop_header_value=self._loop_value, tenant=source.tenant_id
            )
        except UnparseableEmail as exc:
            return self._finish(entry, Outcome.FAILED, f"not an email: {exc.reason}", trail)
        except ReaderUnavailable as exc:
            return self._retry_later(entry, str(exc), attempt, trail)
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
        digest = message_id_digest(email.message_id) if email.message_id else raw_digest(raw)
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
            )
        try:
            # First, so the log says where the message was headed whatever happens next.
            route = resolve_route(source.spec, email.headers)
            self._log.record_route(entry.id, route.to_json())
            for step in route.trail():
                trail.add(step)
            msg = _Message(source, entry, understanding, digest, attempt, trail, route)
            return self._route(msg)
        except JiraError as exc:
            return self._failed_call(entry, exc, attempt, trail)
        except Exception as exc:
            # Anything unexpected is quarantined with its traceback, never retried blindly.
            log.exception("pipeline.quarantined entry_id=%s", entry.id)
            reason = f"internal error: {type(exc).__name__}"
            return self._finish(entry, Outcome.FAILED, reason, trail)

    # -- decisions -----------------------------------------------------------------------

    def _route(self, msg: _Message) -> Processed:
        source, entry, understanding, digest, attempt, trail = msg.parts()
        email = understanding.email
        policy = source.spec.policy
        classification = understanding.classification
        trail.add(f"classified {classification.kind}: {classification.reason}")
        reason = automatic_mail_reason(classification, drop_automatic=policy.drop_automatic)
        reason = reason or sender_reason(
            email.sender, ignored=policy.ignored_senders, allowed_domains=policy.allowed_domains
        )
        if reason is None and email.sender is not None:
            since = self._clock() - timedelta(hours=1)
            recent = self._log.count_from_sender(source.tenant_id, email.sender.address, since)
            reason = rate_reason(recent, limit_per_hour=policy.rate_limit_per_hour)
        if reason is not None:
            return self._finish(entry, Outcome.IGNORED, reason, trail)

        known = self._threads.lookup(source.tenant_id, [digest, *thread_digests(email)])
        if digest in known and attempt == 1:
            key = known[digest]
            return self._finish(
                entry,
                Outcome.DUPLICATE,
                f"this Message-ID already made {key}",
                trail,
                issue_key=key,
            )
        projects = msg.route.subject_projects
        match = match_thread(email, projects=projects, known=known)
        if match is not None:
            trail.add(f"thread: {match.detail}")
            why_not = self._why_not_comment(match, policy)
            if why_not is None:
                return self._comment(msg, match)
            trail.add(why_not)
            if source.spec.unmatched == "ignore":
                return self._finish(
                    entry, Outcome.IGNORED, f"{why_not}; unmatched mail is ignored", trail
                )
        elif source.spec.unmatched == "ignore":
            return self._finish(
                entry, Outcome.IGNORED, "no issue matched; unmatched mail is ignored", trail
            )
        if msg.route.ignored:  # a reply to a known thread was commented above, rules or not
            return self._finish(entry, Outcome.IGNORED, msg.route.reason, trail)
        return self._create(msg)

    def _why_not_comment(self, match: ThreadMatch, policy: SourcePolicy) -> str | None:
        info = self._tracker.issue_info(match.issue_key)
        if info is None:
            return f"{match.issue_key} no longer exists (or the app cannot see it)"
        if policy.comment_issue_types and info.issue_type not in policy.comment_issue_types:
            return f"{match.issue_key} is a {info.issue_type}, which does not take mail comments"
        return None

    # -- delivery ------------------------------------------------------------------------

    def _create(self, msg: _Message) -> Processed:
        source, entry, understanding, digest, attempt, trail = msg.parts()
        email = understanding.email
        policy = msg.route.policy
        person = self._person(email)
        jsm = self._jsm
        if jsm is not None and not (
            policy.jsm_customers and jsm.applies(msg.route.project_key, trail.add)
        ):
            jsm = None
        customer = jsm.customer(email, trail.add) if jsm and person is None else None
        existing = self._tracker.find_issue_by_digest(digest) if attempt > 1 else None
        if existing is not None:
            trail.add(f"found {existing} stamped with this message (an earlier attempt made it)")
            key = existing
        else:
            requester = person or customer
            draft = IssueDraft(
                project_key=msg.route.project_key,
                issue_type=msg.route.issue_type,
                summary=clean_subject(email.subject) or "(no subject)",
                description=understanding.description.document,
                message_digest=digest,
                reporter_account_id=(
                    requester.account_id if requester else policy.default_reporter
                ),
                assignee_account_id=policy.default_assignee,
                labels=policy.labels,
                priority=policy.priority,
                custom_fields=custom_field_values(email, person, policy, self._fields),
            )
            key = self._tracker.create_issue(draft)
            trail.add(f"created {key} in {draft.project_key} as {draft.issue_type}")
        self._threads.remember(source.tenant_id, digest, key, "inbound")
        if jsm is not None:
            jsm.add_participants(key, email, msg.is_ours, trail.add)
        self._attach(key, email, understanding, policy, healing=existing is not None, trail=trail)
        self._record_people(source, key, email, person)
        return self._finish(entry, Outcome.CREATED, f"created {key}", trail, issue_key=key)

    def _comment(self, msg: _Message, match: ThreadMatch) -> Processed:
        source, entry, understanding, digest, attempt, trail = msg.parts()
        email = understanding.email
        key = match.issue_key
        person = self._person(email)
        comment_id = self._tracker.find_comment_by_digest(key, digest) if attempt > 1 else None
        if comment_id is not None:
            trail.add(f"found comment {comment_id} stamped with this message")
        else:
            reply = understanding.reply.document
            body = with_author_line(reply, email, person)
            draft = CommentDraft(key, body, digest, author=person, authored_body=reply)
            added = self._tracker.add_comment(draft)
            trail.add(f"commented on {key} ({match.via})")
            if added.note:
                trail.add(added.note)
        self._threads.remember(source.tenant_id, digest, key, "inbound")
        jsm = self._jsm
        wants_jsm = bool(jsm and email.cc and msg.route.policy.jsm_customers)
        # People a reply newly copies join the request, as on a new one.
        if jsm and wants_jsm and jsm.applies(key.rpartition("-")[0], trail.add):
            jsm.add_participants(key, email, msg.is_ours, trail.add)
        policy = source.spec.policy
        self._attach(
            key, email, understanding, policy, healing=attempt > 1, trail=trail, reply=True
        )
        self._record_people(source, key, email, person)
        return self._finish(
            entry, Outcome.COMMENTED, f"commented on {key} ({match.via})", trail, issue_key=key
        )

    def _attach(
        self,
        key: str,
        email: InboundEmail,
        understanding: Understanding,
        policy: SourcePolicy,
        *,
        healing: bool,
        trail: _Trail,
        reply: bool = False,
    ) -> None:
        files = [a for a in email.attachments if _wanted(a, policy)]
        rendering = understanding.reply if reply else understanding.description
        if rendering.fitted.truncated and rendering.fitted.full_text:
            full = rendering.fitted.full_text.encode("utf-8")
            files.append(_text_attachment(FULL_TEXT_FILENAME, full))
            trail.add("text over Jira's limit: full text attached")
        present = self._tracker.attachment_names(key) if healing and files else set()
        for attachment in files:
            if (attachment.filename, attachment.size) in present:
                continue
            self._tracker.attach(key, attachment)
        if files:
            trail.add(f"attached {len(files)} file(s)")

    # -- people --------------------------------------------------------------------------

    def _person(self, email: InboundEmail) -> JiraPerson | None:
        return self._tracker.find_person(email.sender.address) if email.sender else None

    def _record_people(
        self, source: MailSource, key: str, email: InboundEmail, person: JiraPerson | None
    ) -> None:
        """Sender and Cc per issue, for notifications: each Cc is looked up in Jira (cached),
        so an agent copied on a customer's mail is known as a Jira user and not mailed; our
        own addresses (a reply-all copies them) are left out."""
        people = []
        if email.sender is not None:
            people.append(
                Participant(
                    email.sender.address,
                    email.sender.name,
                    "sender",
                    person.account_id if person else None,
                )
            )
        for copied in email.cc:
            if is_own_address(source.spec, copied.address):
                continue
            found = self._tracker.find_person(copied.address)
            account_id = found.account_id if found else None
            people.append(Participant(copied.address, copied.name, "cc", account_id))
        self._participants.record(source.tenant_id, key, people)

    # -- endings -------------------------------------------------------------------------

    def _failed_call(
        self, entry: LogEntry, exc: JiraError, attempt: int, trail: _Trail
    ) -> Processed:
        reason = f"Jira: {exc}"
        if not exc.retryable:
            return self._finish(entry, Outcome.FAILED, reason, trail)
        return self._retry_later(
            entry, reason, attempt, trail, retry_after=exc.retry_after or 0, status=exc.status
        )

    def _retry_later(
        self,
        entry: LogEntry,
        reason: str,
        attempt: int,
        trail: _Trail,
        *,
        retry_after: float = 0,
        status: int | None = None,
    ) -> Processed:
        if attempt >= MAX_ATTEMPTS:
            return self._finish(
                entry, Outcome.FAILED, f"{reason} (gave up after {attempt} attempts)", trail
            )
        minutes = BACKOFF_MINUTES[min(attempt, len(BACKOFF_MINUTES)) - 1]
        wait = max(timedelta(minutes=minutes), timedelta(seconds=retry_after))
        retry_at = self._clock() + wait
        trail.add(f"{reason}; retry at {retry_at.isoformat(timespec='seconds')}")
        self._log.postpone(entry.id, reason, retry_at, trail.steps)
        logs.event(log, "mail.postponed", entry_id=entry.id, attempt=attempt, status=status)
        return Processed(Outcome.PENDING, reason, retry_at=retry_at)

    def _finish(
        self,
        entry: LogEntry,
        outcome: Outcome,
        reason: str,
        trail: _Trail,
        *,
        issue_key: str | None = None,
    ) -> Processed:
        if trail.unreadable:
            if issue_key is not None:
                reason = f"{reason}; it {trail.unreadable}: the original is attached"
            else:
                reason = f"it {trail.unreadable}; {reason}"
        self._log.finish(entry.id, outcome, reason, issue_key=issue_key, trail=trail.steps)
        logs.event(
            log,
            "mail.processed",
            entry_id=entry.id,
            source_id=entry.source_id,
            outcome=outcome,
            issue_key=issue_key or "-",
        )
        return Processed(outcome, reason, issue_key)


def _index_settles_at(entry: LogEntry) -> datetime | None:
    """When a lookup can trust Jira's index after an interrupted attempt; None if no attempt
    was interrupted. `start_attempt` clears the schedule and an attempt that ends finishes or
    postpones (scheduling again), so a pending row with attempts and no schedule was cut
    short; if it got as far as describing the message it may have reached Jira. An admin's
    retry resets `attempts` to 0."""
    if entry.attempts == 0 or entry.message_id_digest is None:
        return None
    if entry.next_attempt_at is not None:
        return None
    return entry.updated_at + INDEX_SETTLE


def _wanted(attachment: MailAttachment, policy: SourcePolicy) -> bool:
    small_image = (
        attachment.content_type.startswith("image/")
        and attachment.inline
        and attachment.size < policy.skip_images_below_bytes
    )
    return not small_image


def _text_attachment(filename: str, content: bytes) -> MailAttachment:
    return MailAttachment.of(filename, "text/plain; charset=utf-8", content)
