"""`decide()`: every kind of decision, and which rule wins when several apply. Pure: no
database, no Jira; the facts are values, as the pipeline and the previews pass them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.drafts import IssueInfo
from connector.mail.classify import LOOP_HEADER
from connector.mail_source import SourcePolicy, SourceSpec
from connector.pipeline.decide import (
    INDEX_SETTLE,
    Case,
    Create,
    Drop,
    Duplicate,
    Facts,
    LookUp,
    Postpone,
    Thread,
    decide,
    settling,
)
from connector.pipeline.gather import decide_asking
from connector.pipeline.routes import resolve_route
from connector.pipeline.understanding import Understanding, understand
from connector.routing.addresses import AddressRule
from connector.routing.match import message_id_digest
from tests.unit.source_specs import source_spec

REPLIED_TO = "<first@customer.example>"
KNOWN = {message_id_digest(REPLIED_TO): "SUP-7"}
OWN_ID = "<this@customer.example>"
TASK = IssueInfo("SUP-7", "SUP", "Task")


def _mail(*headers: str, loop_value: str | None = None) -> Understanding:
    block = {
        "From": "Ann <ann@customer.example>",
        "To": "helpdesk@example.com",
        "Subject": "Printer on fire",
        "Message-ID": OWN_ID,
    }
    for header in headers:
        name, _, value = header.partition(": ")
        if value:
            block[name] = value
        else:
            block.pop(name.rstrip(":"), None)
    text = "".join(f"{name}: {value}\r\n" for name, value in block.items())
    raw = f"{text}\r\nIt smokes.\r\n".encode()
    return understand(raw, loop_header_value=loop_value)


def _case(understanding: Understanding, spec: SourceSpec | None = None, attempt: int = 1) -> Case:
    spec = spec or source_spec()
    route = resolve_route(spec, understanding.email.headers)
    return Case(understanding, route, spec, attempt)


def _policy(**settings: Any) -> SourceSpec:
    return source_spec(policy=SourcePolicy(**settings))


def test_decide_new_mail_creates_in_the_source_project() -> None:
    decision = decide(_case(_mail()), Facts(issues={}))
    assert decision == Create("SUP", "Task")
    assert decision.reason == "create an issue in SUP as Task"


def test_decide_address_rule_creates_in_the_rule_project_as_its_type() -> None:
    rule = AddressRule("billing@example.com", "BIL", "Bug")
    spec = source_spec(address_rules=(rule,))
    decision = decide(_case(_mail("To: billing@example.com"), spec), Facts(issues={}))
    assert decision == Create("BIL", "Bug")


def test_decide_own_loop_is_dropped_even_when_automatic_mail_is_kept() -> None:
    mail = _mail(f"{LOOP_HEADER}: ours", loop_value="ours")
    decision = decide(_case(mail, _policy(drop_automatic=False)), Facts())
    assert isinstance(decision, Drop)
    assert LOOP_HEADER in decision.reason


def test_decide_auto_reply_is_dropped_by_policy_and_kept_without_it() -> None:
    mail = _mail("Auto-Submitted: auto-replied")
    dropped = decide(_case(mail), Facts())
    assert isinstance(dropped, Drop)
    assert "auto-replied" in dropped.reason
    assert decide(_case(mail, _policy(drop_automatic=False)), Facts()) == Create("SUP", "Task")


def test_decide_mail_without_sender_is_dropped() -> None:
    decision = decide(_case(_mail("From:")), Facts())
    assert decision == Drop("no sender: the message has no usable From, Sender or Reply-To address")


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"ignored_senders": ("@customer.example",)}, "ignored sender: matches the rule"),
        ({"allowed_domains": ("example.com",)}, "sender domain 'customer.example' is not"),
    ],
)
def test_decide_sender_rules_drop(settings: dict[str, Any], reason: str) -> None:
    decision = decide(_case(_mail(), _policy(**settings)), Facts())
    assert isinstance(decision, Drop)
    assert decision.reason.startswith(reason)


def test_decide_rate_limit_applies_only_when_the_sender_was_counted() -> None:
    case = _case(_mail(), _policy(rate_limit_per_hour=3))
    over = decide(case, Facts(sender_recent=3))
    assert isinstance(over, Drop)
    assert over.reason.startswith("rate limit: 3 messages from this sender")
    assert decide(case, Facts(sender_recent=2)) == Create("SUP", "Task")
    assert decide(case, Facts(sender_recent=None)) == Create("SUP", "Task")  # a preview


def test_decide_duplicate_on_the_first_attempt_only() -> None:
    facts = Facts(earlier_issue="SUP-3", issues={})
    first = decide(_case(_mail()), facts)
    assert first == Duplicate("SUP-3")
    assert first.reason == "this Message-ID already made SUP-3"
    # A later attempt is our own retry: it goes on (and finds its stamp when delivering).
    assert decide(_case(_mail(), attempt=2), facts) == Create("SUP", "Task")


def test_decide_filters_win_over_duplicate_and_thread() -> None:
    mail = _mail("Auto-Submitted: auto-replied", f"In-Reply-To: {REPLIED_TO}")
    decision = decide(_case(mail), Facts(known=KNOWN, earlier_issue="SUP-3", issues={}))
    assert isinstance(decision, Drop)  # and no Jira lookup was asked for


def test_decide_duplicate_wins_over_thread() -> None:
    mail = _mail(f"In-Reply-To: {REPLIED_TO}")
    facts = Facts(known=KNOWN, earlier_issue="SUP-3", issues={})
    assert decide(_case(mail), facts) == Duplicate("SUP-3")


def test_decide_reply_asks_jira_then_threads() -> None:
    case = _case(_mail(f"In-Reply-To: {REPLIED_TO}"))
    thread_step = "thread: In-Reply-To names a message of SUP-7"
    assert decide(case, Facts(known=KNOWN, issues={})) == LookUp("SUP-7", (thread_step,))
    decision = decide(case, Facts(known=KNOWN, issues={"SUP-7": TASK}))
    assert decision == Thread("SUP-7", "In-Reply-To", (thread_step,))
    assert decision.reason == "comment on SUP-7"


def test_decide_reply_without_jira_threads_unchecked() -> None:
    decision = decide(_case(_mail(f"In-Reply-To: {REPLIED_TO}")), Facts(known=KNOWN))
    assert isinstance(decision, Thread)
    assert decision.issue_key == "SUP-7"


def test_decide_subject_key_threads_only_in_the_subject_projects() -> None:
    mail = _mail("Subject: Re: [SUP-12] Printer", "To: billing@example.com")
    assert isinstance(decide(_case(mail), Facts()), Thread)
    rule = AddressRule("billing@example.com", "BIL")
    routed = decide(_case(mail, source_spec(address_rules=(rule,))), Facts())
    assert routed == Create("BIL", "Task")  # the rule's project only: SUP keys do not thread


def test_decide_gone_issue_falls_through_to_create_with_the_reason() -> None:
    case = _case(_mail(f"In-Reply-To: {REPLIED_TO}"))
    decision = decide(case, Facts(known=KNOWN, issues={"SUP-7": None}))
    assert decision == Create(
        "SUP",
        "Task",
        (
            "thread: In-Reply-To names a message of SUP-7",
            "SUP-7 no longer exists (or the app cannot see it)",
        ),
    )


def test_decide_issue_type_without_comments_with_unmatched_ignored_drops() -> None:
    spec = source_spec(unmatched="ignore", policy=SourcePolicy(comment_issue_types=("Bug",)))
    case = _case(_mail(f"In-Reply-To: {REPLIED_TO}"), spec)
    decision = decide(case, Facts(known=KNOWN, issues={"SUP-7": TASK}))
    why = "SUP-7 is a Task, which does not take mail comments"
    assert decision == Drop(
        f"{why}; unmatched mail is ignored",
        ("thread: In-Reply-To names a message of SUP-7", why),
    )


def test_decide_unmatched_mail_ignored_by_the_source() -> None:
    decision = decide(_case(_mail(), source_spec(unmatched="ignore")), Facts(issues={}))
    assert decision == Drop("no issue matched; unmatched mail is ignored")


def test_decide_unrouted_mail_ignored_but_replies_still_thread() -> None:
    rule = AddressRule("billing@example.com", "BIL")
    spec = source_spec(address_rules=(rule,), unrouted="ignore")
    dropped = decide(_case(_mail(), spec), Facts(issues={}))
    assert dropped == Drop("no address rule matched; unrouted mail is ignored")
    reply = _case(_mail(f"In-Reply-To: {REPLIED_TO}"), spec)
    assert isinstance(decide(reply, Facts(known=KNOWN, issues={"SUP-7": TASK})), Thread)


def test_decide_asking_looks_up_only_the_issue_a_reply_needs() -> None:
    asked: list[str] = []

    def issue_info(lookup: LookUp) -> IssueInfo | None:
        asked.append(lookup.issue_key)
        return TASK

    reply = _case(_mail(f"In-Reply-To: {REPLIED_TO}"))
    assert isinstance(decide_asking(reply, Facts(known=KNOWN, issues={}), issue_info), Thread)
    assert asked == ["SUP-7"]
    auto_reply = _case(_mail("Auto-Submitted: auto-replied", f"In-Reply-To: {REPLIED_TO}"))
    assert isinstance(decide_asking(auto_reply, Facts(known=KNOWN, issues={}), issue_info), Drop)
    assert asked == ["SUP-7"]  # a dropped reply cost no Jira call


NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _settling(**changes: Any) -> Postpone | None:
    values: dict[str, Any] = {
        "attempts": 1,
        "described": True,
        "scheduled": False,
        "updated_at": NOW - timedelta(seconds=10),
        "now": NOW,
    }
    values.update(changes)
    return settling(**values)


def test_settling_postpones_after_an_interrupted_attempt_until_the_index_settles() -> None:
    waiting = _settling()
    assert waiting is not None
    assert waiting.until == NOW - timedelta(seconds=10) + INDEX_SETTLE
    assert waiting.reason.startswith("an earlier attempt was interrupted")


@pytest.mark.parametrize(
    "changes",
    [
        {"attempts": 0},  # never tried, or an admin's retry
        {"described": False},  # cut short before it could reach Jira
        {"scheduled": True},  # postponed on purpose: not interrupted
        {"updated_at": NOW - INDEX_SETTLE},  # the index has caught up
    ],
)
def test_settling_goes_on_when_nothing_can_be_pending_in_the_index(
    changes: dict[str, Any],
) -> None:
    assert _settling(**changes) is None
