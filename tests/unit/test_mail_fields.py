"""The lines that name the sender and Cc above a comment or a new issue's description."""

from __future__ import annotations

from typing import Any

from connector.jira.adf import AUTHOR_LINE_ROOM, serialized_length, text_to_adf
from connector.mail.message import parse_email
from connector.mail_fields import with_author_line

BODY = text_to_adf("The printer is on fire.")


def _mail(sender: str, cc: str = "") -> bytes:
    copied = f"Cc: {cc}\r\n" if cc else ""
    return (
        f"From: {sender}\r\nTo: support@example.com\r\n{copied}Subject: Printer\r\n\r\n"
        "The printer is on fire.\r\n"
    ).encode()


def _lines(document: dict[str, Any]) -> list[str]:
    return [
        "".join(node.get("text", "") for node in block.get("content", []))
        for block in document["content"]
    ]


def test_sender_and_cc_lines_come_before_the_text() -> None:
    email = parse_email(
        _mail("Ann Example <ann@customer.example>", "Bob <bob@x.example>, c@y.example")
    )
    lines = _lines(with_author_line(BODY, email, None))
    assert lines == [
        "Ann Example <ann@customer.example> wrote by email:",
        "Cc: Bob <bob@x.example>, c@y.example",
        "The printer is on fire.",
    ]


def test_without_cc_there_is_no_cc_line() -> None:
    email = parse_email(_mail("ann@customer.example"))
    assert _lines(with_author_line(BODY, email, None)) == [
        "ann@customer.example wrote by email:",
        "The printer is on fire.",
    ]


def test_many_cc_and_a_long_name_stay_within_the_room_the_text_leaves() -> None:
    many = ", ".join(f"person{n}@copied.example" for n in range(300))
    email = parse_email(_mail(f"{'Ünïcödé ' * 400}<ann@customer.example>", many))
    document = with_author_line(BODY, email, None, unverified="the message has no DKIM signature")
    header = document["content"][:2]
    assert serialized_length({"content": header}) <= AUTHOR_LINE_ROOM
    first, cc = _lines(document)[:2]
    assert first.endswith(
        "… (sender not verified: the message has no DKIM signature) wrote by email:"
    )
    assert cc.startswith("Cc: person0@copied.example, person1@copied.example")
    shown = cc.count("@copied.example")
    assert 0 < shown < 300 and cc.endswith(f" and {300 - shown} more")
