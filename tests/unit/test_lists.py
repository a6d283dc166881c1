"""Mailing lists that rewrite From (connector/mail/lists.py): the author, not the list."""

from __future__ import annotations

from connector.mail.message import parse_email
from connector.pipeline.understanding import understand
from connector.preview import preview_dict
from connector.preview_text import format_preview

LIST_HEADERS = (
    b"List-Id: Users <users.lists.example.org>\n"
    b"List-Post: <mailto:users@lists.example.org>\n"
    b"Subject: [users] Printer\n\nThe printer is broken.\n"
)


def _parse(head: bytes) -> tuple[str | None, str | None, str]:
    email = parse_email(head + LIST_HEADERS)
    listed = email.list_address.address if email.list_address else None
    return (email.sender.address if email.sender else None), listed, email.sender_note


def test_list_author_taken_from_reply_to_and_the_list_named() -> None:
    sender, listed, note = _parse(
        b"From: Ann Lee via Users <users@lists.example.org>\nReply-To: Ann Lee <ann@example.com>\n"
    )

    assert (sender, listed) == ("ann@example.com", "users@lists.example.org")
    assert note.startswith("From rewritten by the mailing list Users <users@lists.example.org>")
    assert "from Reply-To" in note and "not authenticated" in note


def test_list_author_in_cc_only_under_the_name_the_list_gave() -> None:
    sender, _, note = _parse(
        b"From: Ann Lee via Users <users@lists.example.org>\n"
        b"Reply-To: users@lists.example.org\n"
        b"Cc: Bob Ray <bob@example.com>, Ann  Lee <ann@example.com>\n"
    )

    assert sender == "ann@example.com" and "from Cc" in note


def test_list_author_from_x_original_from() -> None:
    sender, _, note = _parse(
        b"From: 'Ann Lee' via Users <users@lists.example.org>\n"
        b"X-Original-From: Ann Lee <ann@example.com>\n"
    )

    assert sender == "ann@example.com" and "from X-Original-From" in note


def test_list_mail_under_the_author_own_from_is_left_alone() -> None:
    # A Reply-To on ordinary list mail (a help desk, the list) never replaces the From.
    assert _parse(b"From: Ann Lee <ann@example.com>\nReply-To: Help <help@example.com>\n") == (
        "ann@example.com",
        None,
        "",
    )


def test_list_rewrite_without_an_author_keeps_the_list() -> None:
    sender, listed, _ = _parse(
        b"From: Ann Lee via Users <users@lists.example.org>\n"
        b"Reply-To: users@lists.example.org\nCc: Bob Ray <bob@example.com>\n"
    )

    assert (sender, listed) == ("users@lists.example.org", None)


def test_via_name_without_list_headers_is_not_a_list() -> None:
    email = parse_email(
        b"From: Ann Lee via Docs <comments@docs.example.com>\n"
        b"Reply-To: Ann Lee <ann@example.com>\nSubject: x\n\nA comment.\n"
    )

    assert email.sender is not None and email.sender.address == "comments@docs.example.com"
    assert email.list_address is None


def test_preview_names_the_list_and_the_author() -> None:
    raw = (
        b"From: Ann Lee via Users <users@lists.example.org>\n"
        b"Reply-To: Ann Lee <ann@example.com>\n" + LIST_HEADERS
    )
    understanding = understand(raw)

    shown = format_preview(understanding)

    assert "\nFrom:           Ann Lee <ann@example.com>\nVia list:       From " in shown
    assert preview_dict(understanding)["list"] == {
        "address": "users@lists.example.org",
        "name": "Users",
    }
