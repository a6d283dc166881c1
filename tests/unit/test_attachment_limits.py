"""Attachment limits (connector/mail/limits.py): files past the count or bytes a message may
carry are counted, named in the text, and travel inside the attached original."""

from __future__ import annotations

import base64
import struct

import pytest
from tnefparse.mapi import IMESSAGE_SIG

from connector.jira.adf import JIRA_TEXT_LIMIT, serialized_length
from connector.mail.limits import MAX_LISTED, ORIGINAL_FILENAME, AttachmentLimits
from connector.mail.message import parse_email
from connector.mail.tnef import unpack_tnef
from connector.pipeline.reading import MessageReader, reader_for
from connector.pipeline.understanding import understand
from connector.settings import ReadingLimits
from tests.fakes.openapi import adf_schema
from tests.hostile import (
    ATTACHMENT,
    MESSAGE,
    attachment_part,
    mime_parts,
    mixed,
    tnef,
    tnef_attribute,
    tnef_members,
)

_ATTACH_MAPI = (0x9005, 0x0006)  # attAttachment: the member's MAPI properties
_MAPI_PROPS = (0x9003, 0x0006)  # attMsgProps: the message's


def _files(*sizes: int) -> bytes:
    parts = [
        attachment_part(f'filename="f{number}.bin"', b"x" * size)
        for number, size in enumerate(sizes)
    ]
    return mixed([b"Content-Type: text/plain\n\nSee the files.\n", *parts])


def test_parse_email_files_past_count_left_out_and_original_attached() -> None:
    _, raw = mime_parts(count=41)  # a text part and 40 files
    parsed = parse_email(raw, AttachmentLimits(count=10))
    names = [attachment.filename for attachment in parsed.attachments]
    assert names == [f"part{number}.txt" for number in range(1, 11)] + [ORIGINAL_FILENAME]
    assert parsed.attachments[-1].content == raw
    assert parsed.attachments[-1].content_type == "message/rfc822"
    assert parsed.left_out.count == 30
    assert parsed.left_out.listed[:2] == (("part11.txt", len(b"part 11\n")), ("part12.txt", 8))
    assert len(parsed.left_out.listed) == 25
    assert parsed.left_out.total_bytes == sum(len(f"part {n}\n") for n in range(11, 41))


def test_parse_email_file_over_bytes_left_out_smaller_later_ones_kept() -> None:
    parsed = parse_email(_files(600, 500, 100), AttachmentLimits(total_bytes=1000))
    assert [a.filename for a in parsed.attachments] == ["f0.bin", "f2.bin", ORIGINAL_FILENAME]
    assert (parsed.left_out.count, parsed.left_out.listed) == (1, (("f1.bin", 500),))


def test_parse_email_within_limits_no_original_added() -> None:
    parsed = parse_email(_files(600, 500, 100))
    assert [a.filename for a in parsed.attachments] == ["f0.bin", "f1.bin", "f2.bin"]
    assert parsed.left_out.count == 0


def test_parse_email_zero_attachments_allowed_keeps_only_the_original() -> None:
    parsed = parse_email(_files(10, 10), AttachmentLimits(count=0))
    assert [a.filename for a in parsed.attachments] == [ORIGINAL_FILENAME]
    assert parsed.left_out.count == 2


def test_parse_email_forwarded_message_past_limit_not_parsed() -> None:
    inner = b"From: b@example.com\nSubject: Inner\n\nInner body\n"
    forward = b"Content-Type: message/rfc822\n\n" + inner
    raw = mixed([b"Content-Type: text/plain\n\nTwo forwards.\n", forward, forward])
    parsed = parse_email(raw, AttachmentLimits(count=1))
    assert [f.subject for f in parsed.forwarded] == ["Inner"]
    assert parsed.left_out.listed == (("Inner.eml", len(inner)),)


def test_parse_email_tnef_members_past_limit_counted_not_unpacked() -> None:
    _, raw = tnef_members(count=1_000)
    parsed = parse_email(raw, AttachmentLimits(count=5))
    assert [a.filename for a in parsed.attachments] == [
        *(f"file{number}.txt" for number in range(5)),
        ORIGINAL_FILENAME,
    ]
    assert parsed.left_out.count == 995
    assert parsed.left_out.total_bytes == 995 * 20
    assert parsed.left_out.listed[0] == ("file5.txt", 20)
    assert len(parsed.left_out.listed) == MAX_LISTED


def test_parse_email_tnef_counts_against_files_before_it() -> None:
    winmail = tnef([("a.txt", b"aa"), ("b.txt", b"bb")], body="Rich body")
    part = b"Content-Type: application/ms-tnef\nContent-Transfer-Encoding: base64\n\n"
    raw = mixed([attachment_part('filename="first.bin"', b"1"), part + base64.encodebytes(winmail)])
    parsed = parse_email(raw, AttachmentLimits(count=2))
    assert [a.filename for a in parsed.attachments] == ["first.bin", "a.txt", ORIGINAL_FILENAME]
    assert parsed.left_out.listed == (("b.txt", 2),)


def test_unpack_tnef_embedded_message_too_large_left_out_small_one_kept() -> None:
    def member_with_embedded(members: int) -> bytes:
        embedded = IMESSAGE_SIG + tnef([(f"in{n}.txt", b"i") for n in range(members)])
        # attAttachment: one property, PT_OBJECT (0x000D) PR_ATTACH_DATA_OBJ (0x3701).
        value = struct.pack("<I", len(embedded)) + embedded + b"\x00" * (-len(embedded) % 4)
        props = struct.pack("<IHHI", 1, 0x000D, 0x3701, 1) + value
        return tnef_attribute(ATTACHMENT, _ATTACH_MAPI, props)

    small = tnef([("small.msg", b"")]) + member_with_embedded(3)
    content = unpack_tnef(small)
    assert content is not None
    assert [name for name, _ in content.files] == ["small.msg"]
    assert content.files[0][1].startswith(b"\x78\x9f\x3e\x22")  # the embedded TNEF itself
    large = tnef([("large.msg", b"")]) + member_with_embedded(400)
    content = unpack_tnef(large)
    assert content is not None
    assert (content.files, content.more) == ((), 1)
    assert content.more_listed[0][0] == "large.msg"


@pytest.mark.timeout(30)  # tnefparse would loop 2**32 times over the property count
def test_unpack_tnef_property_count_beyond_its_data_skipped() -> None:
    bogus = tnef_attribute(MESSAGE, _MAPI_PROPS, struct.pack("<I", 0xFFFFFFFF) + bytes(8))
    content = unpack_tnef(tnef([("a.txt", b"aa")], body="Body", extra=[bogus]))
    assert content is not None
    assert (content.files, content.text) == ((("a.txt", b"aa"),), "Body")


def test_understand_left_out_files_named_in_description_and_reply_as_valid_adf() -> None:
    _, raw = mime_parts(count=141)
    result = understand(raw)
    assert len(result.email.attachments) == 101  # the default 100 and the original
    for rendering in (result.description, result.reply):
        text = rendering.text
        assert "40 more attachments were not added one by one" in text
        assert ORIGINAL_FILENAME in text
        assert "part101.txt (9 bytes)" in text and "part125.txt" in text
        assert "part126.txt" not in text and "... and 15 more." in text
        assert adf_schema().errors(rendering.document) == []


def test_understand_long_body_cut_still_ends_with_the_left_out_note() -> None:
    body = b"Content-Type: text/plain\n\n" + b"A long line of text.\n\n" * 20_000
    raw = mixed([body, *(attachment_part(f'filename="{n}.txt"', b"x") for n in range(3))])
    result = understand(raw, limits=AttachmentLimits(count=1))
    document = result.description.document
    assert result.description.fitted.truncated
    assert serialized_length(document) <= JIRA_TEXT_LIMIT
    *_, truncation_note, lead, names = document["content"]
    assert "full-message.txt" in str(truncation_note)
    assert "2 more attachments were not added" in str(lead)
    assert names["type"] == "bulletList"


def test_message_reader_passes_limits_to_the_reader_process() -> None:
    _, raw = mime_parts(count=5)
    reader = reader_for(ReadingLimits(max_attachments=2))
    understanding = reader.understand(raw)
    assert [a.filename for a in understanding.email.attachments] == [
        "part1.txt",
        "part2.txt",
        ORIGINAL_FILENAME,
    ]
    assert understanding.email.left_out.count == 2
    assert MessageReader(None).understand(raw).email.left_out.count == 0
