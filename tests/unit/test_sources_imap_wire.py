"""The IMAP wire helpers: sequence sets, mailbox names (RFC 3501 §5.1.3), FETCH/LIST parsing."""

from __future__ import annotations

from datetime import date

import pytest

from connector.sources import imap_wire as wire
from connector.sources.errors import SourceConfigError


def test_uid_sets_compress_runs_and_sort() -> None:
    assert list(wire.uid_sets([9, 3, 4, 5, 7, 4])) == ["3:5,7,9"]
    assert list(wire.uid_sets([])) == []


def test_uid_sets_split_long_sets_below_command_line_limit() -> None:
    pieces = list(wire.uid_sets(list(range(1, 20_000, 2))))
    assert len(pieces) > 1
    assert all(len(piece) <= 4000 for piece in pieces)
    assert sum(len(piece.split(",")) for piece in pieces) == 10_000


def test_search_date_uses_english_months_whatever_the_locale() -> None:
    assert wire.search_date(date(2025, 3, 7)) == "7-Mar-2025"


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("INBOX", '"INBOX"'),
        ("Données", '"Donn&AOk-es"'),
        ("台北", '"&U,BTFw-"'),  # RFC 3501 §5.1.3's own example
        ("Tom & Jerry", '"Tom &- Jerry"'),
        ('Say "hi"', '"Say \\"hi\\""'),
    ],
)
def test_encode_mailbox_uses_modified_utf7_and_quotes(name: str, encoded: str) -> None:
    assert wire.encode_mailbox(name) == encoded


def test_server_folder_name_translates_slash_to_the_server_delimiter() -> None:
    assert wire.server_folder_name("Projects/Support", ".") == "Projects.Support"
    assert wire.server_folder_name("Projects/Support", "/") == "Projects/Support"
    assert wire.server_folder_name("Projects/Support", None) == "Projects/Support"
    assert wire.display_folder_name("Projects.Support", ".") == "Projects/Support"


def test_server_folder_name_refuses_a_level_containing_the_delimiter() -> None:
    with pytest.raises(SourceConfigError) as raised:
        wire.server_folder_name("Releases/v1.2", ".", field="success_folder")
    assert raised.value.field == "success_folder"


def test_parse_sizes_ignores_unsolicited_flag_updates() -> None:
    data = [b"1 (UID 10 RFC822.SIZE 321)", b"2 (FLAGS (\\Seen))", b"3 (RFC822.SIZE 5 UID 12)"]
    assert wire.parse_sizes(data) == {10: 321, 12: 5}


def test_parse_bodies_finds_uid_before_or_after_the_literal() -> None:
    data = [
        (b"1 (UID 4 BODY[] {5}", b"hello"),
        b")",
        (b"2 (BODY[] {3}", b"abc"),
        b" UID 6)",
    ]
    assert wire.parse_bodies(data) == {4: b"hello", 6: b"abc"}


def test_parse_delimiter_reads_list_reply_and_nil() -> None:
    assert wire.parse_delimiter([b'(\\Noselect) "." ""']) == "."
    assert wire.parse_delimiter([b'(\\Noselect) "/" ""']) == "/"
    assert wire.parse_delimiter([b'(\\Noselect) NIL ""']) is None


def test_parse_list_names_handles_quoted_and_literal_names() -> None:
    data = [b'(\\HasNoChildren) "." "Donn&AOk-es"', (b'(\\Noselect) "." {8}', b'Odd"Name')]
    names = wire.parse_list_names(data)
    assert [(wire.decode_mailbox(name), "\\noselect" in flags) for name, flags in names] == [
        ("Données", False),
        ('Odd"Name', True),
    ]


def test_parse_message_id_reads_header_block() -> None:
    assert wire.parse_message_id(b"Message-ID: <a@b>\r\n\r\n") == "<a@b>"
    assert wire.parse_message_id(b"\r\n") is None
