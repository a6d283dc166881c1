"""Issue 19's families of real-world mail we used to get wrong, scored with floors.

The cases live in tests/corpus/long_tail/ and were written for this corpus (none was collected
from a real mailbox), each after the format a named client, mailer or RFC produces; every case
names its source:
- replies.json: plain-text replies (header-block quotes in Outlook's languages, wrapped
  attribution lines, "2013/7/20 Name <addr>" with "| " quotes, mobile signatures with links),
  each with the reply text we want; compared whitespace-normalised as in test_reply_corpus.
- mail.json and mail/: whole messages (an HTML alternative that says nothing, undeclared
  ISO 2022 text, Auto-Submitted values, mailing lists that rewrite From), with what
  `understand` must make of them.
The shared corpora hold few of these shapes, so the cases are ours; the floors are today's
figures, so none of them can regress unnoticed.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connector.jira.adf import JIRA_TEXT_LIMIT, serialized_length
from connector.mail.html import says_nothing
from connector.mail.inbound import Address, InboundEmail
from connector.mail.reply import extract_reply_text
from connector.mail_fields import with_author_line
from connector.pipeline.understanding import shows_html, understand
from tests.corpus.test_reply_corpus import normalise
from tests.fakes.site import jira_length
from tests.shared import shared_path

HERE = Path(__file__).parent / "long_tail"

# Floors: every case passes today (cases per family in brackets).
REPLY_FLOORS = {
    "header_block": 14,  # of 14
    "wrapped_attribution": 14,  # of 14
    "east_asian_attribution": 6,  # of 6
    "mobile_signature": 27,  # of 27
}
MAIL_FLOORS = {
    "empty_html": 5,  # of 5
    "undeclared_escape_charset": 7,  # of 7
    "auto_submitted": 6,  # of 6
    "list_rewritten_from": 6,  # of 6
}


def _load(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((HERE / name).read_text("utf-8"))["cases"]
    assert all(case["source"] for case in cases), "every case names its source"
    return cases


def _assert_floors(results: list[tuple[str, str | None]], floors: dict[str, int]) -> None:
    """`results`: (family, what went wrong or None) per case."""
    total = Counter(family for family, _ in results)
    passed = Counter(family for family, miss in results if miss is None)
    misses = [miss for _, miss in results if miss is not None]
    print({family: f"{passed[family]}/{total[family]}" for family in total})
    assert set(total) == set(floors)
    for family, floor in floors.items():
        assert passed[family] >= floor, misses


def test_long_tail_replies_meet_floors() -> None:
    results: list[tuple[str, str | None]] = []
    for case in _load("replies.json"):
        ours = normalise(extract_reply_text(case["input"]).text)
        miss = None if ours == normalise(case["expected"]) else f"{case['id']}: {ours[:120]!r}"
        results.append((case["family"], miss))
    _assert_floors(results, REPLY_FLOORS)


def _problems(
    email: InboundEmail, kind: str, body_is_html: bool, expect: dict[str, Any]
) -> list[str]:
    problems: list[str] = []
    if "body_is_html" in expect and body_is_html != expect["body_is_html"]:
        problems.append(f"body is HTML: {body_is_html}")
    if "text_body" in expect and email.text_body != expect["text_body"]:
        problems.append(f"text {email.text_body[:60]!r}")
    if "subject" in expect and email.subject != expect["subject"]:
        problems.append(f"subject {email.subject!r}")
    if "defect_contains" in expect and not any(
        expect["defect_contains"] in defect for defect in email.defects
    ):
        problems.append(f"defects {email.defects}")
    if expect.get("no_defects") and email.defects:
        problems.append(f"defects {email.defects}")
    if "kind" in expect and kind != expect["kind"]:
        problems.append(f"kind {kind}")
    if "sender" in expect and (email.sender is None or email.sender.address != expect["sender"]):
        problems.append(f"sender {email.sender}")
    if "list" in expect:
        listed = email.list_address.address if email.list_address else None
        if listed != expect["list"]:
            problems.append(f"list {listed}")
    return problems


def test_long_tail_messages_meet_floors() -> None:
    results: list[tuple[str, str | None]] = []
    for case in _load("mail.json"):
        family, expect = case["family"], case["expect"]
        result = understand((HERE / "mail" / case["file"]).read_bytes())
        email = result.email
        kind = str(result.classification.kind)
        problems = _problems(email, kind, shows_html(email), expect)
        wanted = expect.get("description_contains")
        if wanted and wanted not in result.description.text:
            problems.append(f"description {result.description.text[:80]!r}")
        # Never an empty description while any part has text.
        has_text = email.text_body.strip() or not says_nothing(email.html_body)
        if has_text and not result.description.text.strip():
            problems.append("empty description")
        miss = f"{case['file']}: {'; '.join(problems)}" if problems else None
        results.append((family, miss))
    _assert_floors(results, MAIL_FLOORS)


@pytest.mark.parametrize("rendering", ["description", "reply"])
def test_zammad_mails_fit_jira_with_the_longest_author_line(rendering: str) -> None:
    # Jira's length limit (issue 19): every real message, with the sender line the app may
    # put in front (a long name, an unverified note), is within what the fake Jira counts.
    worst = Address("x" * 500 + "@example.com", '"Name" \\ ' * 100)
    too_long: list[str] = []
    for path in sorted(shared_path("corpora", "zammad_mail").glob("*.box")):
        result = understand(path.read_bytes())
        document = getattr(result, rendering).document
        email = replace(result.email, sender=worst)
        written = with_author_line(document, email, None, unverified="x" * 5000)
        assert serialized_length(written) == jira_length(written)
        if jira_length(written) > JIRA_TEXT_LIMIT:
            too_long.append(f"{path.name}: {jira_length(written)}")
    assert too_long == []
