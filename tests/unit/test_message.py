"""parse_email (connector/mail/message.py and the modules it splits into): raw bytes in,
an InboundEmail out, whatever the mailer did to the bytes."""

from __future__ import annotations

import base64
import hashlib
import random
import time
from datetime import UTC, datetime, timedelta, timezone
from email.parser import BytesParser
from email.policy import default

import pytest

from connector.mail.bounce import HEURISTIC_MAX_BYTES
from connector.mail.classify import classify
from connector.mail.inbound import Address, InboundEmail, UnparseableEmail
from connector.mail.message import MAX_FORWARD_DEPTH, MAX_HEADERS, parse_email
from connector.mail.parts import serialize
from connector.mail.structure import SET_ASIDE_MIN, prepare, set_aside
from tests.hostile import BODY, MESSAGE, tnef, tnef_attribute

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def mail(headers: str, body: str = "Hello\n") -> bytes:
    return (headers.strip("\n") + "\n\n" + body).encode("utf-8")


def parse(raw: bytes) -> InboundEmail:
    started = time.perf_counter()
    parsed = parse_email(raw)
    assert time.perf_counter() - started < 2.0
    return parsed


def test_parse_email_encoded_word_sender_name_decoded() -> None:
    raw = mail(
        "From: =?utf-8?B?SsO2cmcgTcO8bGxlcg==?= =?iso-8859-1?Q?_=28Vertrieb=29?=\n"
        " <Joerg@Example.COM>\n"
        "Subject: =?utf-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?="
    )
    parsed = parse(raw)
    # Words joined without the space between them (RFC 2047 §6.2); domain lower-cased only.
    assert parsed.sender == Address("Joerg@example.com", "Jörg Müller (Vertrieb)")
    assert parsed.subject == "Grüße aus Köln"
    assert parsed.defects == ()


def test_parse_email_comma_inside_encoded_word_keeps_one_mailbox() -> None:
    parsed = parse(mail("From: =?iso-8859-1?Q?B=FCrling,=20Andreas?= <smith@example.com>"))
    assert parsed.sender == Address("smith@example.com", "Bürling, Andreas")


def test_parse_email_latin1_8bit_headers_decoded_as_windows_1252() -> None:
    raw = b"From: J\xf6rg M\xfcller <jm@example.com>\nSubject: Gr\xfc\xdfe \x96 bis bald\n\nHallo\n"
    parsed = parse(raw)
    assert parsed.sender == Address("jm@example.com", "Jörg Müller")
    assert parsed.subject == "Grüße \u2013 bis bald"
    assert any("8-bit header text decoded as cp1252" in defect for defect in parsed.defects)


def test_parse_email_utf8_8bit_headers_decoded_without_defect() -> None:
    parsed = parse(mail("From: Ups Rémi <r@example.com>\nSubject: élégibilité"))
    assert (parsed.sender, parsed.subject) == (Address("r@example.com", "Ups Rémi"), "élégibilité")
    assert parsed.defects == ()


def test_parse_email_8bit_header_uses_charset_declared_in_body() -> None:
    raw = (
        b'From: "\xce\xe4\xc0\xbc\xb3\xc9" <a@example.com>\n'
        b"Content-Type: text/plain; charset=gb2312\n\n\xc4\xe3\xba\xc3\n"
    )
    parsed = parse(raw)
    assert parsed.sender is not None and parsed.sender.name == "武兰成"
    assert parsed.text_body == "你好\n"


def test_parse_email_missing_charset_utf8_body_detected() -> None:
    parsed = parse(mail("From: a@example.com\nContent-Type: text/plain", "Grüße, Jörg\n"))
    assert parsed.text_body == "Grüße, Jörg\n"
    assert parsed.defects == ()  # undeclared UTF-8 is what modern mailers send (RFC 6532)


def test_parse_email_missing_charset_latin1_body_detected_with_defect() -> None:
    raw = b"From: a@example.com\nContent-Type: text/plain\n\nGr\xfc\xdfe, J\xf6rg\n"
    parsed = parse(raw)
    assert parsed.text_body == "Grüße, Jörg\n"
    assert parsed.defects == ("no charset declared for 8-bit text; detected cp1252 in part 1",)


def test_parse_email_wrong_charset_utf8_content_detected() -> None:
    raw = mail("From: a@example.com\nContent-Type: text/plain; charset=us-ascii", "Grüße\n")
    parsed = parse(raw)
    assert parsed.text_body == "Grüße\n"
    assert parsed.defects == (
        "charset 'us-ascii' does not fit the content; detected utf-8 in part 1",
    )


def test_parse_email_latin1_label_on_utf8_content_read_as_utf8() -> None:
    raw = mail("From: a@example.com\nContent-Type: text/plain; charset=iso-8859-1", "Grüße\n")
    parsed = parse(raw)
    assert parsed.text_body == "Grüße\n"
    assert "charset 'iso-8859-1' declared but content is UTF-8 in part 1" in parsed.defects


def test_parse_email_invalid_utf8_bytes_read_as_windows_1252() -> None:
    raw = b"From: a@example.com\nContent-Type: text/plain; charset=utf-8\n\n" + (
        "Grüße aus Köln und Düsseldorf \u2013 ".encode() * 3 + b"Gr\xfc\xdfe\n"
    )
    parsed = parse(raw)
    assert parsed.text_body.endswith("Düsseldorf \u2013 Grüße\n")
    assert "invalid bytes for charset 'utf-8' read as windows-1252 in part 1" in parsed.defects


@pytest.mark.parametrize(
    ("label", "payload", "text"),
    [
        ("unicode-1-1-utf-7", b"+ANw-bermittlung", "Übermittlung"),
        ("ks_c_5601-1987", "스티해".encode("cp949"), "스티해"),
        ("windows-874", "สวัสดี".encode("cp874"), "สวัสดี"),
        ("x-unknown", "Grüße".encode(), "Grüße"),
        ("ISO-2022-JP", "ツール".encode("cp932"), "ツール"),  # Shift_JIS under a 7-bit label
    ],
)
def test_parse_email_unusual_charset_label_decoded(label: str, payload: bytes, text: str) -> None:
    raw = b"From: a@example.com\nContent-Type: text/plain; charset=" + label.encode() + b"\n\n"
    assert parse(raw + payload).text_body == text


def test_parse_email_cr_only_line_endings_parsed() -> None:
    raw = b"From: a@example.com\rSubject: Old Mac\rTo: b@example.com\r\rline one\rline two\r"
    parsed = parse(raw)
    assert (parsed.subject, parsed.to) == ("Old Mac", (Address("b@example.com"),))
    assert parsed.text_body == "line one\nline two\n"


def test_parse_email_crlf_message_keeps_binary_attachment_bytes() -> None:
    binary = bytes(range(256)) + b"\r\n\r\r\n\x00"
    encoded = base64.encodebytes(binary).decode().replace("\n", "\r\n")
    raw = (
        "From: a@example.com\r\nSubject: Bin\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        "--b\r\nContent-Type: application/octet-stream; name=data.bin\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}--b--\r\n"
    ).encode()
    parsed = parse(raw)
    assert parsed.text_body == "See attached."
    [attachment] = parsed.attachments
    assert attachment.content == binary
    assert (attachment.size, attachment.sha256) == (len(binary), hashlib.sha256(binary).hexdigest())


def test_parse_email_mbox_from_line_skipped() -> None:
    envelope = b"From someone@example.com  Tue Oct 29 03:52:03 2013\n"
    raw = envelope + b"From: a@example.com\nSubject: S\n\nB\n"
    parsed = parse(raw)
    assert (parsed.sender, parsed.subject) == (Address("a@example.com"), "S")
    assert parsed.headers[0] == ("From", "a@example.com")


def test_parse_email_duplicated_subject_uses_first_and_says_so() -> None:
    parsed = parse(mail("From: a@example.com\nSubject: First\nSubject: Second"))
    assert parsed.subject == "First"
    assert parsed.header_values("subject") == ("First", "Second")
    assert "2 Subject headers; used the first" in parsed.defects


def test_parse_email_folded_subject_whitespace_normalised() -> None:
    raw = mail("From: a@example.com\nSubject: Benachrichtung  \n\tzum\n =?utf-8?Q?Status_?=  ")
    # Folding whitespace collapses; the space the encoded word carries is content.
    assert parse(raw).subject == "Benachrichtung zum Status "


def test_parse_email_multipart_alternative_html_richest_text_plain() -> None:
    raw = mail(
        "From: a@example.com\nContent-Type: multipart/alternative; boundary=alt",
        "--alt\nContent-Type: text/plain\n\nplain version\n"
        "--alt\nContent-Type: text/enriched\n\n<bold>enriched</bold>\n"
        "--alt\nContent-Type: text/html\n\n<p>html version</p>\n"
        "--alt--\n",
    )
    parsed = parse(raw)
    assert (parsed.text_body, parsed.html_body) == ("plain version", "<p>html version</p>")
    assert parsed.attachments == ()


def test_parse_email_multipart_mixed_inline_text_parts_concatenated() -> None:
    raw = mail(
        "From: a@example.com\nContent-Type: multipart/mixed; boundary=mix",
        "--mix\nContent-Type: text/plain\n\nfirst\n"
        "--mix\nContent-Type: image/png; name=pic.png\nContent-Disposition: inline\n"
        f"Content-Transfer-Encoding: base64\n\n{base64.b64encode(PNG).decode()}\n"
        "--mix\nContent-Type: text/plain\n\nsecond\n"
        "--mix\nContent-Type: text/plain; name=log.txt\nContent-Disposition: attachment\n\nlog\n"
        "--mix--\n",
    )
    parsed = parse(raw)
    assert parsed.text_body == "first\n\nsecond\n"
    assert [(a.filename, a.inline) for a in parsed.attachments] == [
        ("pic.png", True),
        ("log.txt", False),
    ]


def test_parse_email_related_cid_image_flagged_inline() -> None:
    png = base64.b64encode(PNG).decode()
    raw = mail(
        "From: a@example.com\nContent-Type: multipart/related; boundary=rel",
        '--rel\nContent-Type: text/html\n\n<p>Look: <img src="cid:image001.png@01D0"></p>\n'
        "--rel\nContent-Type: image/png\nContent-ID: <image001.png@01D0>\n"
        f"Content-Transfer-Encoding: base64\n\n{png}\n"
        "--rel\nContent-Type: image/png\nContent-ID: <unused@x>\n"
        f"Content-Transfer-Encoding: base64\n\n{png}\n"
        "--rel--\n",
    )
    parsed = parse(raw)
    assert parsed.html_body.startswith("<p>Look:")
    first, second = parsed.attachments
    # No name given: Outlook's Content-ID local part is the file name it had.
    assert (first.filename, first.content_id, first.inline) == (
        "image001.png",
        "image001.png@01D0",
        True,
    )
    assert (second.content_id, second.inline) == ("unused@x", False)
    assert first.content == PNG and first.content_type == "image/png"


def test_parse_email_rfc2231_filename_continuations_decoded() -> None:
    raw = mail(
        "From: a@example.com\nContent-Type: multipart/mixed; boundary=b",
        "--b\nContent-Type: text/plain\n\nbody\n"
        "--b\nContent-Type: application/pdf\n"
        "Content-Disposition: attachment;\n filename*0*=utf-8''Erkl%C3%A4rung%20;\n"
        " filename*1*=zum%20Vertrag.pdf\n\n%PDF\n"
        "--b\nContent-Type: application/pdf;\n"
        ' name="=?utf-8?B?UHLDpHNlbnRhdGlvbi5wZGY=?="\n\n%PDF\n'
        "--b--\n",
    )
    names = [attachment.filename for attachment in parse(raw).attachments]
    assert names == ["Erklärung zum Vertrag.pdf", "Präsentation.pdf"]


def test_parse_email_filename_path_stripped() -> None:
    raw = mail(
        "From: a@example.com\nContent-Type: multipart/mixed; boundary=b",
        "--b\nContent-Type: text/plain\n\nx\n--b\nContent-Type: application/octet-stream;"
        ' name="..\\\\..\\\\windows\\\\evil.exe"\n\nMZ\n--b--\n',
    )
    assert [a.filename for a in parse(raw).attachments] == ["evil.exe"]


def test_parse_email_forwarded_rfc822_parsed_recursively() -> None:
    inner = "From: Original <orig@example.com>\nSubject: The question\nMessage-ID: <q@x>\n\nWhy?\n"
    raw = mail(
        "From: a@example.com\nSubject: Fwd: The question\n"
        "Content-Type: multipart/mixed; boundary=b",
        f"--b\nContent-Type: text/plain\n\nSee below.\n--b\nContent-Type: message/rfc822\n\n{inner}"
        "--b--\n",
    )
    parsed = parse(raw)
    [forwarded] = parsed.forwarded
    assert forwarded.sender == Address("orig@example.com", "Original")
    # The line break before a boundary belongs to the boundary (RFC 2046 §5.1.1).
    assert (forwarded.subject, forwarded.message_id, forwarded.text_body) == (
        "The question",
        "q@x",
        "Why?",
    )
    [attachment] = parsed.attachments
    assert (attachment.filename, attachment.content_type) == ("The question.eml", "message/rfc822")
    assert attachment.content == inner.encode().rstrip(b"\n")


def test_parse_email_forwarded_nesting_limited() -> None:
    raw = "From: a0@example.com\nSubject: level 0\nContent-Type: message/rfc822\n\n"
    for level in range(1, 6):
        raw += f"From: a{level}@example.com\nSubject: level {level}\n"
        raw += "Content-Type: message/rfc822\n\n" if level < 5 else "\nbottom\n"
    parsed = parse(raw.encode())
    depth, current = 0, parsed
    while current.forwarded:
        [current] = current.forwarded
        depth += 1
    assert depth == MAX_FORWARD_DEPTH
    assert current.subject == f"level {MAX_FORWARD_DEPTH}"
    assert any("nested deeper than" in defect for defect in current.defects)


def test_parse_email_base64_encoded_forwarded_message_decoded_and_parsed() -> None:
    inner = b"From: orig@example.com\nSubject: Inside\n\nInner body\n"
    raw = mail(
        "From: a@example.com\nContent-Type: multipart/mixed; boundary=b",
        "--b\nContent-Type: text/plain\n\nouter\n--b\nContent-Type: message/rfc822\n"
        f"Content-Transfer-Encoding: base64\n\n{base64.b64encode(inner).decode()}\n--b--\n",
    )
    parsed = parse(raw)
    [forwarded] = parsed.forwarded
    assert (forwarded.sender, forwarded.subject) == (Address("orig@example.com"), "Inside")
    assert forwarded.text_body == "Inner body\n"
    assert parsed.attachments[0].content == inner


def test_parse_email_tnef_body_used_when_message_has_none() -> None:
    # The body attribute after the files: message attributes may come anywhere.
    blob = tnef([("a.txt", b"x")]) + tnef_attribute(MESSAGE, BODY, b"Rich text body\r\n")
    raw = mail(
        "From: a@example.com\nContent-Type: application/ms-tnef; name=winmail.dat\n"
        "Content-Transfer-Encoding: base64",
        base64.b64encode(blob).decode() + "\n",
    )
    parsed = parse(raw)
    assert parsed.text_body == "Rich text body\n"
    assert [a.filename for a in parsed.attachments] == ["a.txt"]


def test_parse_email_tnef_attachments_unpacked() -> None:
    encoded = base64.b64encode(tnef([("report.txt", b"hello from outlook")])).decode()
    raw = mail(
        "From: a@example.com\nContent-Type: multipart/mixed; boundary=b",
        "--b\nContent-Type: text/plain\n\nsee attachment\n"
        '--b\nContent-Type: application/ms-tnef; name="winmail.dat"\n'
        f"Content-Transfer-Encoding: base64\n\n{encoded}\n--b--\n",
    )
    parsed = parse(raw)
    [attachment] = parsed.attachments  # the winmail.dat container itself is gone
    assert (attachment.filename, attachment.content_type) == ("report.txt", "text/plain")
    assert (attachment.content, attachment.from_tnef) == (b"hello from outlook", True)


def test_parse_email_unreadable_tnef_kept_with_defect() -> None:
    raw = mail(
        "From: a@example.com\nContent-Type: multipart/mixed; boundary=b",
        "--b\nContent-Type: text/plain\n\nx\n"
        "--b\nContent-Type: application/ms-tnef; name=winmail.dat\n\nnot tnef\n--b--\n",
    )
    parsed = parse(raw)
    assert [a.filename for a in parsed.attachments] == ["winmail.dat"]
    assert "unreadable TNEF (winmail.dat) kept as is in part 2" in parsed.defects


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b" \r\n\t\n", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), "binary data, not an email"),
        (b"Hi there,\nthis is just text.\n", "no header block"),
    ],
)
def test_parse_email_not_an_email_raises_unparseable(raw: bytes, reason: str) -> None:
    with pytest.raises(UnparseableEmail) as raised:
        parse_email(raw)
    assert raised.value.reason.startswith(reason)


def test_parse_email_junk_line_before_headers_skipped() -> None:
    parsed = parse(b"---- Original email message ----\nFrom: a@example.com\nSubject: S\n\nB\n")
    assert (parsed.sender, parsed.subject) == (Address("a@example.com"), "S")
    assert "1 line(s) before the header block skipped" in parsed.defects


def test_parse_email_broken_base64_decoded_with_defect() -> None:
    raw = mail(
        "From: a@example.com\nContent-Type: multipart/mixed; boundary=b",
        "--b\nContent-Type: text/plain\n\nx\n"
        "--b\nContent-Type: application/octet-stream; name=a.bin\n"
        "Content-Transfer-Encoding: base64\n\naGVsbG8gd29y!!bGQ\n--b--\n",
    )
    parsed = parse(raw)
    assert parsed.attachments[0].content == b"hello world"
    assert "invalid base64 in part 2" in parsed.defects


def test_parse_email_missing_boundary_shows_raw_text() -> None:
    raw = mail("From: a@example.com\nContent-Type: multipart/mixed", "just text\n")
    parsed = parse(raw)
    assert parsed.text_body == "just text\n"
    assert "multipart without boundary in part 1" in parsed.defects


def test_parse_email_unquoted_boundary_with_equals_sign_read_whole() -> None:
    raw = mail(
        "From: a@example.com\nContent-Type: multipart/mixed; boundary=----=_Part_1",
        "------=_Part_1\nContent-Type: text/plain\n\nin the part\n------=_Part_1--\n",
    )
    assert parse(raw).text_body == "in the part"


def test_parse_email_message_ids_without_angle_brackets() -> None:
    raw = mail(
        "From: a@example.com\nMessage-ID: <abc@example.com>\nIn-Reply-To: <p@x> (comment)\n"
        "References: <r1@x>\n <r2@x>,<p@x>\n\t<r1@x>"
    )
    parsed = parse(raw)
    assert parsed.message_id == "abc@example.com"
    assert parsed.in_reply_to == ("p@x",)
    assert parsed.references == ("r1@x", "r2@x", "p@x")


def test_parse_email_date_aware_or_none() -> None:
    assert parse(mail("From: a@x.org\nDate: Thu, 8 Jan 2015 01:25:21 +0800 (CST)")).date == (
        datetime(2015, 1, 8, 1, 25, 21, tzinfo=timezone(timedelta(hours=8)))
    )
    assert parse(mail("From: a@x.org\nDate: Mon, 2 Dec 2013 20:54:08 -0000")).date == (
        datetime(2013, 12, 2, 20, 54, 8, tzinfo=UTC)
    )
    broken = parse(mail("From: a@x.org\nDate: Wed, 05 Sep 2018 29:24:05 +0700"))
    assert broken.date is None
    assert "unparseable Date 'Wed, 05 Sep 2018 29:24:05 +0700'" in broken.defects


def test_parse_email_headers_kept_in_order_decoded() -> None:
    raw = mail(
        "Received: from a\nReceived: from b\nFrom: a@example.com\n"
        "X-Custom: =?utf-8?Q?caf=C3=A9?=\nAuto-Submitted: auto-replied"
    )
    parsed = parse(raw)
    assert parsed.headers == (
        ("Received", "from a"),
        ("Received", "from b"),
        ("From", "a@example.com"),
        ("X-Custom", "café"),
        ("Auto-Submitted", "auto-replied"),
    )
    assert parsed.header("auto-submitted") == "auto-replied"


def test_parse_email_sender_falls_back_to_reply_to() -> None:
    parsed = parse(mail('From: "=?GB2312?B?ztI=?=" <>\nReply-To: <Vip@126.com>'))
    assert parsed.sender == Address("Vip@126.com")
    assert "no usable From address; sender taken from Reply-To" in parsed.defects


def test_parse_email_bare_name_and_address_recovered() -> None:
    parsed = parse(mail('From: Test test@example.com\nTo: a@x.org, "Doe, J" <j@x.org>, g:;'))
    assert parsed.sender == Address("test@example.com", "Test")
    assert parsed.to == (Address("a@x.org"), Address("j@x.org", "Doe, J"))


def test_parse_email_format_flowed_unwrapped() -> None:
    raw = mail(
        "From: a@example.com\nContent-Type: text/plain; format=flowed",
        "This is a long \nparagraph.\n> quoted \n> more\n-- \nsig\n",
    )
    assert parse(raw).text_body == "This is a long paragraph.\n> quoted more\n-- \nsig\n"


def test_parse_email_size_is_raw_length() -> None:
    raw = b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n"
    assert parse(raw).size == len(raw)


@pytest.mark.parametrize(
    ("levels", "defect"),
    [
        (200, "MIME nesting deeper than 20 levels; body not read"),
        (5000, "5000 multipart/message parts (limit 1000); body not read"),
    ],
)
def test_parse_email_deep_nesting_bounded_with_defect(levels: int, defect: str) -> None:
    raw = b"From: a@example.com\n"
    for level in range(levels):
        raw += b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (level, level)
    raw += b"Content-Type: text/plain\n\n" + b"deep line\n" * 20000
    raw += b"".join(b"--b%d--\n" % level for level in reversed(range(levels)))
    parsed = parse(raw)
    assert parsed.sender == Address("a@example.com")
    assert (parsed.text_body, defect in parsed.defects) == ("", True)


def test_parse_email_nesting_within_limit_read() -> None:
    raw = b"From: a@example.com\n"
    for level in range(15):
        raw += b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (level, level)
    raw += b"Content-Type: text/plain\n\ndeep\n"
    raw += b"".join(b"--b%d--\n" % level for level in reversed(range(15)))
    assert parse(raw).text_body == "deep"


def test_parse_email_huge_header_count_bounded() -> None:
    raw = b"From: a@example.com\n" + b"X-Spam: y\n" * 200_000
    raw += b"Content-Type: text/plain; charset=utf-8\nSubject: last\n\nGr\xc3\xbc\xc3\x9fe\n"
    parsed = parse(raw)
    assert len(parsed.headers) == MAX_HEADERS
    assert parsed.subject == ""  # beyond the header lines read
    assert parsed.text_body == "Grüße\n"  # MIME fields are kept wherever they are
    assert "200003 header lines; dropped all but the first 20000" in parsed.defects
    assert f"20001 header fields; kept the first {MAX_HEADERS}" in parsed.defects


def test_parse_email_too_many_parts_body_skipped_with_defect() -> None:
    parts = b"--b\nContent-Type: text/plain\n\nx\n" * 20_000
    raw = b"From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n" + parts + b"--b--\n"
    parsed = parse(raw)
    assert (parsed.sender, parsed.text_body, parsed.attachments) == (
        Address("a@example.com"),
        "",
        (),
    )
    assert "20001 MIME parts (limit 10000); body not read" in parsed.defects


def large_mail(parts: str, newline: str = "\n") -> bytes:
    raw = (
        "From: a@example.com\nSubject: Logs\nContent-Type: multipart/mixed; boundary=b\n\n"
        f"{parts}--b--\n"
    )
    return raw.replace("\n", newline).encode()


def base64_part(content: bytes, filename: str) -> str:
    return (
        f"--b\nContent-Type: application/octet-stream; name={filename}\n"
        f"Content-Transfer-Encoding: base64\n\n{base64.encodebytes(content).decode()}"
    )


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_parse_email_large_attachment_round_trips_with_digest(newline: str) -> None:
    content = random.Random(7).randbytes(3 * SET_ASIDE_MIN)
    raw = large_mail(
        "--b\nContent-Type: text/plain\n\nThe logs are attached.\n"
        + base64_part(content, "logs.bin"),
        newline,
    )
    parsed = parse(raw)
    assert parsed.text_body == "The logs are attached."
    [attachment] = parsed.attachments
    assert attachment.content == content
    assert (attachment.size, attachment.sha256) == (
        len(content),
        hashlib.sha256(content).hexdigest(),
    )
    # The tree kept for classification does not hold the attachment a second time.
    assert len(parsed.message.as_bytes()) < 2000
    assert parsed.defects == ()


def test_parse_email_large_parts_beside_marker_lookalike_text_restored_exactly() -> None:
    """Runs set aside before parsing come back byte for byte: a text file of base64-like
    lines, a base64 body followed by a blank line, and text that names the marker itself."""
    rng = random.Random(11)
    hex_lines = "".join(rng.randbytes(32).hex().upper() + "\n" for _ in range(12_000))
    image = rng.randbytes(SET_ASIDE_MIN + 5)
    lookalike = "MailConnectorSetAside0Z\nMailConnectorSetAsideXX1Z\n"
    raw = large_mail(
        f"--b\nContent-Type: text/plain\n\n{lookalike}"
        "--b\nContent-Type: text/plain; name=dump.txt\nContent-Disposition: attachment\n\n"
        f"{hex_lines}"
        f"{base64_part(image, 'image.png')}\n"
    )
    parsed = parse(raw)
    assert parsed.text_body == lookalike.rstrip("\n")
    dump, picture = parsed.attachments
    assert (dump.filename, dump.content) == ("dump.txt", hex_lines.rstrip("\n").encode())
    assert (picture.filename, picture.content) == ("image.png", image)
    assert picture.sha256 == hashlib.sha256(image).hexdigest()


def test_parse_email_forwarded_message_with_large_attachment_kept_whole() -> None:
    content = random.Random(3).randbytes(SET_ASIDE_MIN * 2)
    inner = (
        "From: orig@example.com\nSubject: Inside\nContent-Type: multipart/mixed; boundary=b\n\n"
        f"--b\nContent-Type: text/plain\n\nInner body\n{base64_part(content, 'big.bin')}--b--\n"
    )
    raw = mail(
        "From: a@example.com\nSubject: Fwd\nContent-Type: multipart/mixed; boundary=o",
        f"--o\nContent-Type: text/plain\n\nSee below.\n--o\nContent-Type: message/rfc822\n\n"
        f"{inner}--o--\n",
    )
    parsed = parse(raw)
    [eml] = parsed.attachments
    assert eml.content == inner.encode()  # serialised from the tree with the runs put back
    [forwarded] = parsed.forwarded
    assert forwarded.text_body == "Inner body"
    [attachment] = forwarded.attachments
    assert (attachment.content, attachment.sha256) == (content, hashlib.sha256(content).hexdigest())


def test_parse_email_bounce_returning_large_message_still_classified() -> None:
    original = (
        "From: support@example.com\nSubject: Re: Logs\nContent-Type: application/pdf\n"
        "Content-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(random.Random(5).randbytes(SET_ASIDE_MIN * 2)).decode()
    )
    raw = mail(
        "From: MAILER-DAEMON@example.com\nSubject: Undelivered Mail Returned to Sender\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r"',
        "--r\nContent-Type: text/plain\n\nThe mail could not be delivered.\n"
        "--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; gone@example.com\nAction: failed\nStatus: 5.1.1\n\n"
        f"--r\nContent-Type: message/rfc822\n\n{original}--r--\n",
    )
    parsed = parse(raw)
    result = classify(parsed)
    assert result.reason == "bounce: multipart/report; report-type=delivery-status"
    [forwarded] = parsed.forwarded
    assert forwarded.attachments[0].size == SET_ASIDE_MIN * 2


def test_set_aside_threshold_keeps_bodies_whole_for_bounce_heuristics() -> None:
    # flufl.bounce reads the bodies of messages up to HEURISTIC_MAX_BYTES from the kept tree.
    assert SET_ASIDE_MIN >= HEURISTIC_MAX_BYTES


def test_set_aside_runs_leave_the_parsed_tree_unchanged() -> None:
    """Opaque line runs, wherever they stand (preamble, part bodies, a header block that lacks
    its blank line, a delivery-status block, the epilogue), come back to the same tree."""
    run = "QUJDREVGR0hJSktMTU5PUA==\n" * 3
    raw = (
        "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n"
        f"{run}--b\nContent-Type: text/plain\n\n{run}\n"
        f"--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n{run}"
        f"--b\nContent-Type: message/delivery-status\n\nAction: failed\n{run}\n{run}"
        f"--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\n{run}--c--\n{run}"
        f"--b--\n{run}"
    ).encode()
    data, _, _ = prepare(raw)
    text, aside = set_aside(data, minimum=16)
    assert (len(aside.spans), b"QUJD" in text) == (8, False)
    whole = BytesParser(policy=default).parsebytes(data)
    cut = BytesParser(policy=default).parsebytes(text)
    assert aside.restore_bytes(serialize(cut)) == serialize(whole)
    assert [part.get_content_type() for part in cut.walk()] == [
        part.get_content_type() for part in whole.walk()
    ]


def test_header_cache_is_bounded_by_the_text_it_keeps() -> None:
    from connector.mail import message as message_module

    registry = message_module._BoundedHeaders()
    long_value = "x" * 8000
    for n in range(1000):  # 8 MB of distinct values
        header = registry("X-Long", f"{n} {long_value}")
        assert str(header).startswith(f"{n} ")
    kept = sum(len(name) + len(value) for name, value in registry._cache)
    assert kept <= message_module._HEADER_CACHE_CHARS
    assert 0 < len(registry._cache) < 1000
