"""What becomes of a message: one pure function over values the caller gathered first.

`decide(case, facts)` is the only place that decides. The pipeline, `connector preview
--source` and the admin route check all call it; they differ only in the facts they can look
up (a preview has no Jira and no sender count, so those rules do not apply there).

The rules, in the order they apply (the first that fits decides):
1. Drop automatic mail (our own loop always; auto-replies, bounces, reports by policy), mail
   without a usable sender, ignored senders, senders outside the allowed domains, and senders
   over the hourly rate limit.
2. A first attempt whose Message-ID already made an issue is a duplicate.
   Then the sender check (issue 15) says whether the sender's Jira account may speak for
   the message (`as_account` on `Thread` and `Create`); under `reject_unverified`,
   unauthenticated mail from a Jira user's or our own address is quarantined.
3. A reply to a thread (In-Reply-To, References, an issue key in the subject) is a comment on
   that issue, if Jira says the issue exists and its type takes mail comments. If not, the
   message falls through to rule 4 with the reason in the trail.
4. Unmatched mail is dropped when the source ignores it; so is mail no address rule routed
   when the source ignores unrouted mail (a reply to a known thread was commented above).
5. Otherwise, a new issue in the route's project, as the route's issue type.

Whether an issue still exists is asked of Jira only when rule 3 needs it, so a dropped
auto-reply costs no Jira call: `decide()` answers `LookUp(issue_key)`, and the caller asks
Jira and decides again with the answer in `Facts.issues`.

Postponing is decided before a message is read (`settling`): an interrupted attempt may have
reached Jira, and its stamp is searchable only once Jira's index has caught up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from connector.drafts import IssueInfo
from connector.mail.classify import Classification
from connector.pipeline.understanding import Understanding
from connector.routing.filters import automatic_mail_reason, rate_reason, sender_reason
from connector.routing.match import match_thread
from connector.senders.outcome import SenderAuthentication
from connector.senders.policy import Attribution, SenderVerification, attribute

# Jira indexes entity properties for JQL a little after the write. An attempt cut short (a
# crash, a kill) may have created the issue without our knowing; the next attempt finds it by
# that property, so it waits until the index has caught up with the interrupted one.
INDEX_SETTLE = timedelta(seconds=60)


class SourceRules(Protocol):
    """What `decide()` reads of the source's policy (`connector.mail_source.SourcePolicy`)."""

    @property
    def drop_automatic(self) -> bool: ...

    @property
    def ignored_senders(self) -> Sequence[str]: ...

    @property
    def allowed_domains(self) -> Sequence[str]: ...

    @property
    def rate_limit_per_hour(self) -> int: ...

    @property
    def comment_issue_types(self) -> Sequence[str]: ...

    @property
    def sender_verification(self) -> str: ...


class Destination(Protocol):
    """What `decide()` reads of the message's route (`connector.pipeline.routes.Route`)."""

    @property
    def project_key(self) -> str: ...

    @property
    def issue_type(self) -> str: ...

    @property
    def ignored(self) -> bool: ...

    @property
    def reason(self) -> str: ...

    @property
    def subject_projects(self) -> Sequence[str]: ...


class SourceSettings(Protocol):
    """What `decide()` reads of the source (`connector.mail_source.SourceSpec`)."""

    @property
    def policy(self) -> SourceRules: ...

    @property
    def unmatched(self) -> str: ...  # "create" or "ignore"


@dataclass(frozen=True)
class Case:
    """One message as `decide()` sees it: read, classified and routed."""

    understanding: Understanding
    route: Destination  # the new issue's project, type and defaults; the subject projects
    source: SourceSettings  # its policy's filters and comment issue types; unmatched mail
    attempt: int = 1  # a later attempt is our own retry, never a duplicate
    # Whether the From: line is authenticated (issue 15); None: not checked (a preview),
    # and then the sender's account never speaks for the message.
    sender_auth: SenderAuthentication | None = None


@dataclass(frozen=True)
class Facts:
    """What the caller looked up. The defaults are "not looked up", as in a preview."""

    known: Mapping[str, str] = field(default_factory=dict)  # thread digests -> issue keys
    earlier_issue: str | None = None  # the issue this very Message-ID already made
    sender_recent: int | None = None  # the sender's mail that reached Jira in the last hour
    # What Jira said of issues a reply matched (None: gone, or the app cannot see it). None
    # as a whole: Jira is not asked, and a matched issue is taken to take comments.
    issues: Mapping[str, IssueInfo | None] | None = None
    # Whether the sender's address has a Jira account; None: not looked up (it is looked up
    # only where it matters: unverified mail under `reject_unverified`).
    sender_has_account: bool | None = None


@dataclass(frozen=True)
class Drop:
    reason: str
    steps: tuple[str, ...] = ()  # trail lines, in words an admin reads


@dataclass(frozen=True)
class Duplicate:
    issue_key: str
    steps: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return f"this Message-ID already made {self.issue_key}"


@dataclass(frozen=True)
class Thread:
    issue_key: str
    via: str  # "In-Reply-To", "References" or "subject"
    steps: tuple[str, ...] = ()
    as_account: bool = False  # the sender's Jira account may write the comment (issue 15)

    @property
    def reason(self) -> str:
        return f"comment on {self.issue_key}"


@dataclass(frozen=True)
class Create:
    """A new issue; its defaults are the policy of the route the caller passed in."""

    project_key: str
    issue_type: str
    steps: tuple[str, ...] = ()
    as_account: bool = False  # the sender's Jira account may report the issue (issue 15)

    @property
    def reason(self) -> str:
        return f"create an issue in {self.project_key} as {self.issue_type}"


@dataclass(frozen=True)
class Quarantine:
    """Unauthenticated mail from a Jira user's (or our own) address under
    `reject_unverified`: kept out of Jira, failed with the reason for an admin to look at."""

    reason: str
    steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Postpone:
    reason: str
    until: datetime


@dataclass(frozen=True)
class LookUp:
    """Not a decision yet: Jira's word on this issue is needed (rule 3)."""

    issue_key: str
    steps: tuple[str, ...] = ()  # the trail so far, for when Jira cannot answer


# What decide() concludes of a message it read.
Verdict = Drop | Duplicate | Quarantine | Thread | Create
Decision = Verdict | Postpone


def classification_step(classification: Classification) -> str:
    """The trail line that says what kind of mail it is (it comes before the decision)."""
    return f"classified {classification.kind}: {classification.reason}"


def decide(case: Case, facts: Facts) -> Verdict | LookUp:
    """The first rule that fits (see the module docstring) decides; `LookUp` asks for Jira's
    word on the issue a reply matched, when `facts.issues` does not hold it yet."""
    email, rules, route = case.understanding.email, case.source.policy, case.route
    ignore_unmatched = case.source.unmatched == "ignore"
    reason = automatic_mail_reason(
        case.understanding.classification, drop_automatic=rules.drop_automatic
    )
    reason = reason or sender_reason(
        email.sender, ignored=rules.ignored_senders, allowed_domains=rules.allowed_domains
    )
    if reason is None and facts.sender_recent is not None:
        reason = rate_reason(facts.sender_recent, limit_per_hour=rules.rate_limit_per_hour)
    if reason is not None:
        return Drop(reason)
    if facts.earlier_issue is not None and case.attempt == 1:
        return Duplicate(facts.earlier_issue)
    steps: list[str] = []
    attribution = _attribution(case, facts)
    if attribution is not None:
        if case.sender_auth is not None and attribution.note != case.sender_auth.summary:
            steps.append(attribution.note)  # the summary itself is in the trail already
        if attribution.quarantine is not None:
            return Quarantine(attribution.quarantine, tuple(steps))
    as_account = attribution is not None and attribution.as_account
    match = match_thread(email, projects=route.subject_projects, known=facts.known)
    if match is not None:
        steps.append(f"thread: {match.detail}")
        if facts.issues is not None and match.issue_key not in facts.issues:
            return LookUp(match.issue_key, tuple(steps))
        why_not = _why_not_comment(match.issue_key, facts.issues, rules)
        if why_not is None:
            return Thread(match.issue_key, match.via, tuple(steps), as_account)
        steps.append(why_not)
        if ignore_unmatched:
            return Drop(f"{why_not}; unmatched mail is ignored", tuple(steps))
    elif ignore_unmatched:
        return Drop("no issue matched; unmatched mail is ignored", tuple(steps))
    if route.ignored:
        return Drop(route.reason, tuple(steps))
    return Create(route.project_key, route.issue_type, tuple(steps), as_account)


def _attribution(case: Case, facts: Facts) -> Attribution | None:
    """What the source's `sender_verification` makes of the sender check; None when the
    message was not checked."""
    if case.sender_auth is None:
        return None
    policy = SenderVerification(case.source.policy.sender_verification)
    has_account = bool(facts.sender_has_account)
    return attribute(case.sender_auth, policy, has_account=has_account)


def _why_not_comment(
    issue_key: str, issues: Mapping[str, IssueInfo | None] | None, rules: SourceRules
) -> str | None:
    if issues is None:
        return None
    info = issues[issue_key]
    if info is None:
        return f"{issue_key} no longer exists (or the app cannot see it)"
    if rules.comment_issue_types and info.issue_type not in rules.comment_issue_types:
        return f"{issue_key} is a {info.issue_type}, which does not take mail comments"
    return None


def settling(
    *, attempts: int, described: bool, scheduled: bool, updated_at: datetime, now: datetime
) -> Postpone | None:
    """Wait for Jira's index after an interrupted attempt; None when none was interrupted.

    An attempt that ends either finishes or postpones (scheduling again), so a pending
    message with attempts and no schedule was cut short; if it got as far as being
    `described` (its Message-ID recorded) it may have reached Jira. An admin's retry resets
    `attempts` to 0.
    """
    if attempts == 0 or not described or scheduled:
        return None
    until = updated_at + INDEX_SETTLE
    if until <= now:
        return None
    return Postpone("an earlier attempt was interrupted; waiting for Jira's search index", until)
