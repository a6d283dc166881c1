"""The facts `decide()` needs, looked up in our database and, only when asked, in Jira."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from connector.drafts import IssueInfo
from connector.pipeline.decide import Case, Facts, LookUp, Verdict, decide
from connector.routing.match import thread_digests
from connector.storage.email_log import EmailLog
from connector.storage.threads import ThreadRepository

# The window of the per-sender rate limit (`SourcePolicy.rate_limit_per_hour`).
RATE_WINDOW = timedelta(hours=1)


def gather_facts(
    case: Case,
    digest: str,
    *,
    tenant_id: int,
    threads: ThreadRepository,
    email_log: EmailLog,
    now: datetime,
) -> Facts:
    """The tenant's threads the message names (and its own Message-ID, for duplicates) and
    how much of the sender's mail reached Jira in the last hour."""
    email = case.understanding.email
    known = threads.lookup(tenant_id, [digest, *thread_digests(email)])
    sender = email.sender
    recent = None
    if sender is not None and case.source.policy.rate_limit_per_hour:
        recent = email_log.count_from_sender(tenant_id, sender.address, now - RATE_WINDOW)
    return Facts(known=known, earlier_issue=known.get(digest), sender_recent=recent, issues={})


def needs_account_fact(case: Case) -> bool:
    """`Facts.sender_has_account` matters only for unauthenticated mail under
    `reject_unverified`; elsewhere Jira is not asked."""
    auth = case.sender_auth
    policy = case.source.policy.sender_verification
    return auth is not None and not auth.verified and policy == "reject_unverified"


def decide_asking(
    case: Case, facts: Facts, issue_info: Callable[[LookUp], IssueInfo | None]
) -> Verdict:
    """`decide()`, asking Jira (`issue_info`) about the issue a reply matched when it needs
    to know whether that issue still exists and takes comments."""
    answer = decide(case, facts)
    while isinstance(answer, LookUp):
        issues = {**(facts.issues or {}), answer.issue_key: issue_info(answer)}
        facts = replace(facts, issues=issues)
        answer = decide(case, facts)
    return answer
