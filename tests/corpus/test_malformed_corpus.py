"""parse_email on broken and hostile MIME (../shared/corpora/malformed) and, as a robustness
sweep, on every file of every corpus: no exception but UnparseableEmail, no file slower than
the bound, and the parser-relevant assertions of the source projects' tests (CPython's
test_email, SpamScope mail-parser, the Ruby mail gem; malformed/expected.json) translated to
what InboundEmail exposes.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from connector.mail.inbound import Address, InboundEmail, UnparseableEmail
from connector.mail.message import parse_email
from tests.shared import shared_path

SECONDS_PER_FILE = 2.0  # a robustness bound, not a benchmark
NOT_FILES = {"expected.json", "labels.json", "SOURCE.md", "README.md"}
# The malformed files that are not mail: an Outlook .msg (OLE2 binary) and a digest's inner
# body without headers. Everything else there must parse.
NOT_MAIL = {
    "mail_parser/mail_outlook_1": "binary data",
    "cpython_test_email/msg_19.txt": "no header block",
}


def _files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.name not in NOT_FILES and path.suffix != ".yml"
    )


@cache
def _expected() -> dict[str, Any]:
    path = shared_path("corpora", "malformed", "expected.json")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@cache
def _parsed(relative: str) -> InboundEmail:
    return parse_email(shared_path("corpora", "malformed", relative).read_bytes())


def _timed(path: Path) -> tuple[float, InboundEmail | UnparseableEmail]:
    raw = path.read_bytes()
    started = time.perf_counter()
    try:
        outcome: InboundEmail | UnparseableEmail = parse_email(raw)
    except UnparseableEmail as refused:
        outcome = refused
    return time.perf_counter() - started, outcome


def test_malformed_corpus_every_file_parses_in_time() -> None:
    folder = shared_path("corpora", "malformed")
    refused: dict[str, str] = {}
    slowest = (0.0, "")
    files = _files(folder)
    for path in files:
        seconds, outcome = _timed(path)
        relative = path.relative_to(folder).as_posix()
        assert seconds < SECONDS_PER_FILE, f"{relative} took {seconds:.2f} s"
        slowest = max(slowest, (seconds, relative))
        if isinstance(outcome, UnparseableEmail):
            refused[relative] = outcome.reason
    print(
        f"malformed: {len(files) - len(refused)}/{len(files)} parsed, {len(refused)} "
        f"UnparseableEmail: {refused}; slowest {slowest[1]} {slowest[0] * 1000:.0f} ms"
    )
    assert len(files) == 174
    assert set(refused) == set(NOT_MAIL), refused
    assert all(refused[name].startswith(reason) for name, reason in NOT_MAIL.items()), refused


def test_all_corpora_robustness_sweep() -> None:
    root = shared_path("corpora")
    reasons: Counter[str] = Counter()
    parsed = 0
    slowest = (0.0, "")
    for path in _files(root):
        seconds, outcome = _timed(path)
        relative = path.relative_to(root).as_posix()
        assert seconds < SECONDS_PER_FILE, f"{relative} took {seconds:.2f} s"
        slowest = max(slowest, (seconds, relative))
        if isinstance(outcome, UnparseableEmail):
            reasons[outcome.reason.split(":")[0]] += 1
        else:
            parsed += 1
            assert outcome.size == path.stat().st_size
    print(
        f"all corpora: {parsed} parsed, {sum(reasons.values())} UnparseableEmail "
        f"{dict(reasons)}; slowest {slowest[1]} {slowest[0] * 1000:.0f} ms"
    )
    # reply_parser, talon and signature_detection hold bare bodies, not messages.
    assert parsed >= 1169 and set(reasons) <= {  # 1169: today's figure (issue 19)
        "no header block",
        "empty",
        "binary data, not an email",
    }


def _has_defect(text: str) -> Callable[[InboundEmail], bool]:
    return lambda email: any(text in defect for defect in email.defects)


# (file, what its source project asserts, the same fact about our InboundEmail)
CHECKS: list[tuple[str, str, Callable[[InboundEmail], bool]]] = [
    (
        "cpython_test_email/msg_07.txt",
        "get_filename() == 'dingusfish.gif'",
        lambda e: [a.filename for a in e.attachments] == ["dingusfish.gif"],
    ),
    (
        "cpython_test_email/msg_10.txt",
        "each part's payload decodes (7bit, QP, base64, none)",
        lambda e: (
            "\xa1This is a Quoted Printable encoded message!" in e.html_body
            and all(
                text in e.text_body
                for text in (
                    "This is a 7bit encoded message.",
                    "This is a Base64 encoded message.",
                    "This has no Content-Transfer-Encoding: header.",
                )
            )
        ),
    ),
    (
        "cpython_test_email/msg_11.txt",
        "submsg['subject'] == 'An enclosed message'",
        lambda e: [f.subject for f in e.forwarded] == ["An enclosed message"],
    ),
    (
        "cpython_test_email/msg_15.txt",
        "inner.defects == [StartBoundaryNotFoundDefect]",
        _has_defect("multipart boundary never found"),
    ),
    (
        "cpython_test_email/msg_16.txt",
        "a DSN of 3 parts: text, delivery-status, message",
        lambda e: (
            [a.content_type for a in e.attachments] == ["message/delivery-status", "message/rfc822"]
            and len(e.forwarded) == 1
        ),
    ),
    (
        "cpython_test_email/msg_22.txt",
        "get_param('name') == 'wibble.JPG'",
        lambda e: "wibble.JPG" in [a.filename for a in e.attachments],
    ),
    (
        "cpython_test_email/msg_25.txt",
        "NoBoundaryInMultipart, MultipartInvariantViolation",
        lambda e: (
            _has_defect("multipart without boundary")(e)
            and _has_defect("multipart type on a single part")(e)
        ),
    ),
    (
        "cpython_test_email/msg_28.txt",
        "multipart/digest: 2 parts, each a message",
        lambda e: len(e.forwarded) == 2,
    ),
    (
        "cpython_test_email/msg_35.txt",
        "no blank line between headers and body",
        lambda e: (
            e.subject == "here's something interesting"
            and e.text_body.startswith("counter to RFC 2822")
        ),
    ),
    (
        "cpython_test_email/msg_41.txt",
        "NoBoundaryInMultipart, MultipartInvariantViolation",
        _has_defect("multipart without boundary"),
    ),
    (
        "cpython_test_email/msg_42.txt",
        "the enclosed message's defects == [StartBoundaryNotFoundDefect]",
        lambda e: (
            len(e.forwarded) == 1 and _has_defect("multipart boundary never found")(e.forwarded[0])
        ),
    ),
    (
        "mail_parser/mail_malformed_1",
        "StartBoundaryNotFoundDefect",
        _has_defect("multipart boundary never found"),
    ),
    (
        "mail_parser/mail_malformed_2",
        "StartBoundaryNotFoundDefect",
        _has_defect("multipart boundary never found"),
    ),
    (
        "mail_parser/mail_malformed_3",
        "StartBoundaryNotFound, MultipartInvariantViolation",
        lambda e: _has_defect("multipart boundary never found")(e) and bool(e.reply_to),
    ),
    (
        "ruby_mail/attachment_emails/attachment_content_disposition.eml",
        "attachments.length == 1, filename 'api.rb'",
        lambda e: [a.filename for a in e.attachments] == ["api.rb"],
    ),
    (
        "ruby_mail/attachment_emails/attachment_only_email.eml",
        "mail.attachment? (no body)",
        lambda e: len(e.attachments) == 1 and not e.text_body and not e.html_body,
    ),
    (
        "ruby_mail/attachment_emails/attachment_pdf.eml",
        "parts[0] body, parts[1] attachment",
        lambda e: bool(e.text_body) and [a.filename for a in e.attachments] == ["broken.pdf"],
    ),
    (
        "ruby_mail/error_emails/cant_parse_from.eml",
        "from == ['News@InsideApple.Apple.com']",
        lambda e: e.sender is not None and e.sender.address == "News@insideapple.apple.com",
    ),
    (
        "ruby_mail/error_emails/empty_group_lists.eml",
        "to.group_addresses == [] ('To: undisclosed recipients: ;')",
        lambda e: e.to == (),
    ),
    (
        "ruby_mail/error_emails/empty_in_reply_to.eml",
        "in_reply_to blank",
        lambda e: e.in_reply_to == (),
    ),
    (
        "ruby_mail/error_emails/invalid_subject_characters.eml",
        "display_names == ['Formação Frenetikpolis']",
        lambda e: e.sender is not None and e.sender.name == "Formação Frenetikpolis",
    ),
    (
        "ruby_mail/error_emails/multiple_invalid_content_dispositions.eml",
        "no attachments",
        lambda e: e.attachments == (),
    ),
    (
        "ruby_mail/error_emails/multiple_references_with_one_invalid.eml",
        "references == 'foo@bar.net' (the mail gem reads the first References field only; we "
        "keep the valid ids of both, more to thread on, and drop the broken one)",
        lambda e: e.references == ("foo@bar.net", "baz@bar.net"),
    ),
    (
        "ruby_mail/error_emails/weird_to_header.eml",
        "to == ['user-example@aol.com', 'e-s-a-s-2200@app.ar.com']",
        lambda e: [a.address for a in e.to] == ["user-example@aol.com", "e-s-a-s-2200@app.ar.com"],
    ),
    (
        "ruby_mail/mime_emails/raw_email_encoded_stack_level_too_deep.eml",
        "two parts",
        lambda e: bool(e.text_body) and bool(e.html_body),
    ),
    (
        "ruby_mail/mime_emails/raw_email_with_binary_encoded.eml",
        "attachments.size == 1",
        lambda e: len(e.attachments) == 1,
    ),
    (
        "ruby_mail/mime_emails/raw_email_with_nested_attachment.eml",
        "attachments 'truncated.png', 'smime.p7s'",
        lambda e: [a.filename for a in e.attachments] == ["truncated.png", "smime.p7s"],
    ),
    (
        "ruby_mail/mime_emails/sig_only_email.eml",
        "one attachment called signature.asc",
        lambda e: [a.filename for a in e.attachments] == ["signature.asc"],
    ),
    (
        "ruby_mail/mime_emails/two_from_in_message.eml",
        "to == ['tester2@test.com']",
        lambda e: e.to == (Address("tester2@test.com"),),
    ),
    (
        "ruby_mail/multi_charset/japanese_iso_2022.eml",
        "decoded == 'すみません。\\n\\n'",
        lambda e: e.text_body == "すみません。\n\n",
    ),
    (
        "ruby_mail/multi_charset/ks_c_5601-1987.eml",
        "decoded.chomp == '스티해'",
        lambda e: e.text_body.rstrip("\n") == "스티해",
    ),
    (
        "ruby_mail/plain_emails/basic_email.eml",
        "to == ['raasdnil@gmail.com']",
        lambda e: [a.address for a in e.to] == ["raasdnil@gmail.com"],
    ),
]


@pytest.mark.parametrize(("relative", "assertion", "check"), CHECKS, ids=[c[0] for c in CHECKS])
def test_malformed_corpus_source_assertions_hold(
    relative: str, assertion: str, check: Callable[[InboundEmail], bool]
) -> None:
    project, _, fixture = relative.partition("/")
    assert fixture in _expected()[project], f"{relative} has no assertions in expected.json"
    assert check(_parsed(relative)), assertion


def test_malformed_corpus_not_mail_refused_with_reason() -> None:
    for relative, reason in NOT_MAIL.items():
        with pytest.raises(UnparseableEmail) as refused:
            parse_email(shared_path("corpora", "malformed", relative).read_bytes())
        assert refused.value.reason.startswith(reason)
