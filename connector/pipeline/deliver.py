"""Carrying out a `Create` or `Thread` decision in Jira, safe to repeat after a crash.

The issue (or comment) is created with the message's digest as an entity property in the
same call. A later attempt first looks for that stamp, so an attempt that died between Jira's
answer and our commit is healed by a lookup, not a duplicate; attachments already present
are not added twice. Then the thread is remembered (replies find the issue) and the sender and
Cc are recorded for notifications.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from connector.drafts import CommentDraft, IssueDraft, IssueTracker, JiraPerson
from connector.jira.adf import TRUNCATION_NOTE
from connector.jira.adf_nodes import doc, paragraph, text_node
from connector.jira.errors import JiraBadRequest, JiraError
from connector.jsm import ServiceDeskSteps
from connector.mail.inbound import Address, InboundEmail, MailAttachment
from connector.mail_fields import FieldMap, custom_field_values, with_author_line
from connector.mail_source import MailSource, SourcePolicy
from connector.outcomes import Outcome
from connector.pipeline.decide import Create, Thread
from connector.pipeline.message import Message, Trail
from connector.pipeline.record import Processed, Recorder
from connector.pipeline.routes import is_own_address
from connector.pipeline.understanding import FULL_TEXT_FILENAME, Understanding
from connector.routing.match import clean_subject
from connector.storage.db import Write
from connector.storage.threads import Participant, ParticipantRepository, ThreadRepository


class Delivery:
    def __init__(
        self,
        *,
        tracker: IssueTracker,
        jsm: ServiceDeskSteps | None,
        threads: ThreadRepository,
        participants: ParticipantRepository,
        field_map: FieldMap,
        recorder: Recorder,
    ) -> None:
        self._tracker = tracker
        self._jsm = jsm
        self._threads = threads
        self._participants = participants
        self._fields = field_map
        self._recorder = recorder

    def create(self, msg: Message, decision: Create) -> Processed:
        email, trail, digest = msg.understanding.email, msg.trail, msg.digest
        policy = msg.route.policy  # the route's defaults: the decision's project and type
        found = self._person(email)
        person = found if decision.as_account else None
        jsm = self._jsm
        # An unverified sender is neither made a customer nor brings participants (issue 15).
        if jsm is not None and not (
            decision.as_account
            and policy.jsm_customers
            and jsm.applies(decision.project_key, trail.add)
        ):
            jsm = None
        customer = jsm.customer(email, trail.add) if jsm and person is None else None
        existing = self._tracker.find_issue_by_digest(digest) if msg.attempt > 1 else None
        whole_text = False
        if existing is not None:
            trail.add(f"found {existing} stamped with this message (an earlier attempt made it)")
            key = existing
        else:
            requester = person or customer
            draft = IssueDraft(
                project_key=decision.project_key,
                issue_type=decision.issue_type,
                summary=clean_subject(email.subject) or "(no subject)",
                description=_description(msg, found, person, requester),
                message_digest=digest,
                reporter_account_id=(
                    requester.account_id if requester else policy.default_reporter
                ),
                assignee_account_id=policy.default_assignee,
                labels=policy.labels,
                priority=policy.priority,
                custom_fields=custom_field_values(email, person, policy, self._fields),
            )
            try:
                key = self._tracker.create_issue(draft)
            except JiraBadRequest as error:
                if not is_too_long(error):
                    raise
                # Never a failure for length: a short stand-in, and the whole text attached.
                stand_in = _description(msg, found, person, requester, STAND_IN)
                draft = replace(draft, description=stand_in)
                key = self._tracker.create_issue(draft)
                trail.add(TOO_LONG_STEP)
                whole_text = True
            trail.add(f"created {key} in {draft.project_key} as {draft.issue_type}")
        self._threads.remember(msg.source.tenant_id, digest, key, "inbound")
        if jsm is not None:
            jsm.add_participants(key, email, msg.is_ours, trail.add)
        self._attach(
            key,
            msg.understanding,
            policy,
            healing=existing is not None,
            trail=trail,
            whole_text=whole_text,
        )
        people = self._people(msg.source, key, email, found)
        return self._recorder.finish(
            msg.entry, Outcome.CREATED, f"created {key}", trail, issue_key=key, also=people
        )

    def comment(self, msg: Message, decision: Thread) -> Processed:
        email, trail, digest = msg.understanding.email, msg.trail, msg.digest
        key = decision.issue_key
        found = self._person(email)
        person = found if decision.as_account else None
        comment_id = self._tracker.find_comment_by_digest(key, digest) if msg.attempt > 1 else None
        whole_text = False
        if comment_id is not None:
            trail.add(f"found comment {comment_id} stamped with this message")
        else:
            reply = msg.understanding.reply.document
            unverified = msg.unverified_note() if found and not person else None
            body = with_author_line(reply, email, found, unverified=unverified, cc=_copied(msg))
            draft = CommentDraft(key, body, digest, author=person, authored_body=reply)
            try:
                added = self._tracker.add_comment(draft)
            except JiraBadRequest as error:
                if not is_too_long(error):
                    raise
                body = with_author_line(STAND_IN, email, found, unverified=unverified)
                draft = replace(draft, body=body, authored_body=STAND_IN)
                added = self._tracker.add_comment(draft)
                trail.add(TOO_LONG_STEP)
                whole_text = True
            trail.add(f"commented on {key} ({decision.via})")
            if added.note:
                trail.add(added.note)
        self._threads.remember(msg.source.tenant_id, digest, key, "inbound")
        jsm = self._jsm
        wants_jsm = bool(
            jsm and email.cc and msg.route.policy.jsm_customers and decision.as_account
        )
        # People a reply newly copies join the request, as on a new one.
        if jsm and wants_jsm and jsm.applies(key.rpartition("-")[0], trail.add):
            jsm.add_participants(key, email, msg.is_ours, trail.add)
        policy = msg.source.spec.policy
        self._attach(
            key,
            msg.understanding,
            policy,
            healing=msg.attempt > 1,
            trail=trail,
            reply=True,
            whole_text=whole_text,
        )
        people = self._people(msg.source, key, email, found)
        reason = f"commented on {key} ({decision.via})"
        return self._recorder.finish(
            msg.entry, Outcome.COMMENTED, reason, trail, issue_key=key, also=people
        )

    def _attach(
        self,
        key: str,
        understanding: Understanding,
        policy: SourcePolicy,
        *,
        healing: bool,
        trail: Trail,
        reply: bool = False,
        whole_text: bool = False,
    ) -> None:
        """The message's files, and the full text when the field could not hold it
        (`whole_text`: Jira refused the text, which was sent as a stand-in)."""
        files = [a for a in understanding.email.attachments if _wanted(a, policy)]
        rendering = understanding.reply if reply else understanding.description
        full_text = rendering.fitted.full_text if rendering.fitted.truncated else None
        if whole_text:
            full_text = full_text or rendering.text
        if full_text:
            files.append(_text_attachment(FULL_TEXT_FILENAME, full_text.encode("utf-8")))
            trail.add("text over Jira's limit: full text attached")
        present = self._tracker.attachment_names(key) if healing and files else set()
        for attachment in files:
            if (attachment.filename, attachment.size) in present:
                continue
            self._tracker.attach(key, attachment)
        if files:
            trail.add(f"attached {len(files)} file(s)")

    def _person(self, email: InboundEmail) -> JiraPerson | None:
        return self._tracker.find_person(email.sender.address) if email.sender else None

    def _people(
        self, source: MailSource, key: str, email: InboundEmail, person: JiraPerson | None
    ) -> Write:
        """Sender and Cc per issue, for notifications: each Cc is looked up in Jira (cached),
        so an agent copied on a customer's mail is known as a Jira user and not mailed; our
        own addresses (a reply-all copies them) are left out. Recorded with the message's
        final log row, in one transaction (the thread is recorded earlier, on its own, right
        after Jira's answer: a reply must find the issue even when a later step fails)."""
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
        return self._participants.recording(source.tenant_id, key, people)


def _description(
    msg: Message,
    found: JiraPerson | None,
    person: JiraPerson | None,
    requester: JiraPerson | None,
    document: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The new issue's description (`document`, else the message's). When the reporter is not
    the sender (no Jira account, or an account that may not speak for the message), it starts
    with the line comments start with, naming the sender and Cc (issue 18): agents then see
    who wrote whatever custom fields the tenant keeps. The unverified note says why an account
    was not used (issue 15). A JSM customer made for the sender is the reporter, so needs no
    line."""
    document = dict(document or msg.understanding.description.document)
    if requester is not None:
        return document
    email = msg.understanding.email
    unverified = msg.unverified_note() if found is not None and person is None else None
    return with_author_line(document, email, found, unverified=unverified, cc=_copied(msg))


def _copied(msg: Message) -> list[Address]:
    """The message's Cc without our own addresses (a reply-all copies them)."""
    return [a for a in msg.understanding.email.cc if not msg.is_ours(a.address)]


# Jira's words for a field over its length limit: the REST API's "The entered text is too
# long. It exceeds the allowed limit of 32,767 characters." and CONTENT_LIMIT_EXCEEDED.
_TOO_LONG_WORDS = ("too long", "content_limit_exceeded")
_BODY_FIELDS = ("description", "comment", "body")
TOO_LONG_STEP = "Jira refused the text as too long: sent a short note instead"
# What stands in for a text Jira refused; the whole text is attached under this name.
STAND_IN = doc(
    [paragraph([text_node(TRUNCATION_NOTE.format(filename=FULL_TEXT_FILENAME), [{"type": "em"}])])]
)


def is_too_long(error: JiraError) -> bool:
    """Jira refused the description or comment for its length (never worth retrying as it
    was). A custom field's length error is not ours to mend with a stand-in."""
    words = [*error.messages, *(error.field_errors.get(key, "") for key in _BODY_FIELDS)]
    return any(mark in word.lower() for word in words for mark in _TOO_LONG_WORDS)


def _wanted(attachment: MailAttachment, policy: SourcePolicy) -> bool:
    small_image = (
        attachment.content_type.startswith("image/")
        and attachment.inline
        and attachment.size < policy.skip_images_below_bytes
    )
    return not small_image


def _text_attachment(filename: str, content: bytes) -> MailAttachment:
    return MailAttachment.of(filename, "text/plain; charset=utf-8", content)
