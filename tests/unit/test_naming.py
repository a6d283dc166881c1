"""Attachment names (connector/mail/naming.py): what a sender chose, made safe to show."""

from __future__ import annotations

import unicodedata

import pytest

from connector.mail.message import parse_email
from connector.mail.naming import MAX_NAME_BYTES, attachment_name, clean_filename
from tests.hostile import HOSTILE_NAMES, bidi_names


@pytest.mark.parametrize(("given", "shown"), HOSTILE_NAMES)
def test_clean_filename_hostile_name_keeps_only_visible_last_segment(
    given: str, shown: str
) -> None:
    assert clean_filename(given) == shown


def test_clean_filename_right_to_left_override_no_longer_hides_extension() -> None:
    # Shown as "invoice_exe.pdf" with the override; the file is an executable.
    cleaned = clean_filename("invoice_\u202efdp.exe")
    assert cleaned.endswith(".exe")
    assert all(unicodedata.category(c) != "Cf" for c in cleaned)


def test_clean_filename_long_name_capped_in_utf8_bytes_keeping_extension() -> None:
    cleaned = clean_filename("\u00e9" * 1000 + ".pdf")
    assert len(cleaned.encode("utf-8")) <= MAX_NAME_BYTES
    assert cleaned.endswith("\u00e9.pdf")  # cut at a character, not inside its two bytes
    assert len(cleaned) > 100


def test_clean_filename_long_extension_cut_as_part_of_the_name() -> None:
    cleaned = clean_filename("a." + "x" * 400)
    assert len(cleaned.encode("utf-8")) <= MAX_NAME_BYTES
    assert cleaned.startswith("a.xxx")


def test_clean_filename_persian_and_emoji_letters_kept() -> None:
    assert clean_filename("\u06af\u0632\u0627\u0631\u0634 \U0001f4ca.xlsx") == (
        "\u06af\u0632\u0627\u0631\u0634 \U0001f4ca.xlsx"
    )


def test_attachment_name_only_invisible_characters_gets_made_up_name() -> None:
    assert attachment_name("\u202e\u200b\u2066", "application/pdf", None) == (
        "attachment.pdf",
        False,
    )


def test_parse_email_hostile_names_cleaned_in_mime_and_tnef() -> None:
    _, raw = bidi_names()
    names = [attachment.filename for attachment in parse_email(raw).attachments]
    expected = [shown for _, shown in HOSTILE_NAMES]
    assert names[: len(expected)] == expected
    long_name, tnef_member = names[len(expected) :]
    assert long_name.endswith(".pdf")
    assert len(long_name.encode("utf-8")) <= MAX_NAME_BYTES
    assert tnef_member == HOSTILE_NAMES[0][1]
    for name in names:
        assert not any(unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"} for c in name)
