"""Pure routing decisions: thread matching, summaries, and the drop rules."""

from __future__ import annotations

import pytest

from connector.mail.classify import Classification, MailKind
from connector.mail.inbound import Address, InboundEmail
from connector.mail.message import parse_email
from connector.routing.filters import automatic_mail_reason, rate_reason, sender_reason
from connector.routing.match import (
    MAX_THREAD_IDS,
    clean_subject,
    issue_keys_in,
    match_thread,
    message_id_digest,
    thread_digests,
)


def _email(headers: str) -> InboundEmail:
    return parse_email((headers + "\r\n\r\nbody\r\n").encode())


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [SUP-12] Printer on fire", "Printer on fire"),
        ("AW: WG: Re: Rechnung", "Rechnung"),
        ("RE[2]: Fwd: quarterly numbers", "quarterly numbers"),
        ("SV: Vs: Antw: hei", "hei"),
        ("Re\uff1a中文主题", "中文主题"),  # a CJK client's full-width colon
        ("  Many   spaces\tinside ", "Many spaces inside"),
        ("Regarding the outage", "Regarding the outage"),
        ("Re: ", ""),
    ],
)
def test_clean_subject_prefixes_and_own_tags_removed(subject: str, expected: str) -> None:
    assert clean_subject(subject) == expected


def test_clean_subject_long_subject_is_cut_to_jira_limit() -> None:
    summary = clean_subject("x" * 400)
    assert len(summary) == 255 and summary.endswith("…")


def test_issue_keys_in_subject_only_allowed_projects() -> None:
    subject = "Re: SUP-12 and OPS-3, see also sup-4 and XSUP-9 and SUP-0"
    assert issue_keys_in(subject, {"SUP"}) == ["SUP-12"]
    assert issue_keys_in(subject, {"SUP", "OPS"}) == ["SUP-12", "OPS-3"]


def test_message_id_digest_ignores_angle_brackets_and_space() -> None:
    assert message_id_digest("<a@b>") == message_id_digest(" a@b ")
    assert message_id_digest("<a@b>") != message_id_digest("<A@b>")


def test_match_thread_in_reply_to_wins_over_subject() -> None:
    email = _email(
        "From: a@example.com\r\nSubject: Re: [SUP-2] x\r\nIn-Reply-To: <m1@x>\r\n"
        "References: <m0@x> <m1@x>"
    )
    known = {message_id_digest("m1@x"): "SUP-1"}
    match = match_thread(email, projects={"SUP"}, known=known)
    assert match is not None and (match.issue_key, match.via) == ("SUP-1", "In-Reply-To")


def test_match_thread_newest_reference_wins() -> None:
    email = _email("From: a@example.com\r\nSubject: x\r\nReferences: <old@x> <new@x>")
    known = {message_id_digest("old@x"): "SUP-1", message_id_digest("new@x"): "SUP-2"}
    match = match_thread(email, projects={"SUP"}, known=known)
    assert match is not None and (match.issue_key, match.via) == ("SUP-2", "References")
    assert thread_digests(email)[0] == message_id_digest("new@x")


def test_thread_digests_huge_references_keeps_newest_bounded() -> None:
    ids = " ".join(f"<m{i}@x>" for i in range(1_000))
    email = _email(f"From: a@example.com\r\nSubject: x\r\nIn-Reply-To: <r@x>\r\nReferences: {ids}")
    digests = thread_digests(email)
    assert len(digests) == MAX_THREAD_IDS
    assert digests[:2] == [message_id_digest("r@x"), message_id_digest("m999@x")]


def test_match_thread_subject_key_of_other_project_does_not_match() -> None:
    email = _email("From: a@example.com\r\nSubject: Re: [OPS-1] x")
    assert match_thread(email, projects={"SUP"}, known={}) is None


def _classification(kind: MailKind) -> Classification:
    return Classification(kind=kind, reason=f"{kind}: because", signals=())


@pytest.mark.parametrize(
    ("kind", "drop", "dropped"),
    [
        (MailKind.AUTO_REPLY, True, True),
        (MailKind.BOUNCE, True, True),
        (MailKind.FEEDBACK_REPORT, True, True),
        (MailKind.AUTO_REPLY, False, False),
        (MailKind.OWN_LOOP, False, True),
        (MailKind.BULK, True, False),
        (MailKind.HUMAN, True, False),
    ],
)
def test_automatic_mail_reason_by_kind_and_policy(
    kind: MailKind, drop: bool, dropped: bool
) -> None:
    reason = automatic_mail_reason(_classification(kind), drop_automatic=drop)
    assert (reason is not None) == dropped


@pytest.mark.parametrize(
    ("address", "rules", "ignored"),
    [
        ("deals@spam.example", ("@spam.example",), True),
        ("deals@mail.spam.example", ("@spam.example",), True),
        ("deals@notspam.example", ("@spam.example",), False),
        ("noreply@shop.example", ("noreply",), True),
        ("ceo@example.com", ("ceo@example.com",), True),
        ("ceo2@example.com", ("ceo@example.com",), False),
    ],
)
def test_sender_reason_ignored_rules(address: str, rules: tuple[str, ...], ignored: bool) -> None:
    reason = sender_reason(Address(address), ignored=rules, allowed_domains=())
    assert (reason is not None) == ignored


def test_sender_reason_allowed_domains_refuse_others() -> None:
    assert (
        sender_reason(Address("a@ok.example"), ignored=(), allowed_domains=("ok.example",)) is None
    )
    reason = sender_reason(Address("a@bad.example"), ignored=(), allowed_domains=("ok.example",))
    assert reason == "sender domain 'bad.example' is not in the allowed domains"


def test_sender_reason_no_sender_is_explained() -> None:
    assert "no sender" in (sender_reason(None, ignored=(), allowed_domains=()) or "")


def test_rate_reason_at_limit_brakes_and_zero_turns_it_off() -> None:
    assert rate_reason(19, limit_per_hour=20) is None
    assert "rate limit: 20 messages" in (rate_reason(20, limit_per_hour=20) or "")
    assert rate_reason(500, limit_per_hour=0) is None
