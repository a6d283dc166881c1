"""The small parts of the IMAP wire format the adapter needs and imaplib leaves to its caller:
sequence sets, FETCH and LIST responses, search dates and mailbox names. No sockets here."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date
from email.parser import BytesHeaderParser
from typing import Any

from imap_tools.imap_utf7 import utf7_decode, utf7_encode

from connector.sources.errors import SourceConfigError

# RFC 7162 §4 asks clients to keep command lines under 8192 octets; sets are cut well below.
_MAX_SET_LENGTH = 4000
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_LIST_DELIMITER = re.compile(rb'^\([^)]*\) (NIL|"(?:\\.|[^"\\])")')
_LIST_ENTRY = re.compile(rb'^\((?P<flags>[^)]*)\) (?:NIL|"(?:\\.|[^"\\])") (?P<name>.*)$')


def uid_sets(uids: Sequence[int]) -> Iterator[str]:
    """Sorted UIDs as compact sequence sets (`3:7,9`), in pieces short enough to send."""
    ranges: list[str] = []
    length = 0
    ordered = sorted(set(uids))
    index = 0
    while index < len(ordered):
        start = end = ordered[index]
        while index + 1 < len(ordered) and ordered[index + 1] == end + 1:
            index += 1
            end = ordered[index]
        index += 1
        piece = str(start) if start == end else f"{start}:{end}"
        if ranges and length + len(piece) + 1 > _MAX_SET_LENGTH:
            yield ",".join(ranges)
            ranges, length = [], 0
        ranges.append(piece)
        length += len(piece) + 1
    if ranges:
        yield ",".join(ranges)


def search_date(day: date) -> str:
    """RFC 3501 §9 `date`: 21-Nov-2025, with English month names whatever the locale."""
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}"


def parse_search(data: list[Any]) -> list[int]:
    words = b" ".join(item for item in data if isinstance(item, bytes)).split()
    return sorted(int(word) for word in words if word.isdigit())


def parse_sizes(data: list[Any]) -> dict[int, int]:
    """UID -> RFC822.SIZE from `UID FETCH ... (RFC822.SIZE)`. Unsolicited FETCH responses
    (another session changing flags) carry no size and are skipped."""
    sizes: dict[int, int] = {}
    for head, _ in _fetch_items(data):
        uid, size = _UID.search(head), _SIZE.search(head)
        if uid and size:
            sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def parse_bodies(data: list[Any]) -> dict[int, bytes]:
    """UID -> the literal of a `UID FETCH ... (BODY.PEEK[...])` response."""
    bodies: dict[int, bytes] = {}
    for head, literal in _fetch_items(data):
        uid = _UID.search(head)
        if uid and literal is not None:
            bodies[int(uid.group(1))] = literal
    return bodies


def parse_message_id(header_block: bytes) -> str | None:
    value = BytesHeaderParser().parsebytes(header_block).get("Message-ID")
    if value is None:
        return None
    return str(value).strip() or None


def parse_delimiter(data: list[Any]) -> str | None:
    """The hierarchy delimiter from `LIST "" ""` (RFC 3501 §6.3.8); None for a flat server."""
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        match = _LIST_DELIMITER.match(line) if isinstance(line, bytes) else None
        if match and match.group(1) != b"NIL":
            return match.group(1)[-2:-1].decode("ascii")
    return None


def parse_list_names(data: list[Any]) -> list[tuple[bytes, frozenset[str]]]:
    """(encoded name, flags) from a LIST response, names still in modified UTF-7."""
    names: list[tuple[bytes, frozenset[str]]] = []
    for item in data:
        if isinstance(item, tuple):  # a name sent as a literal
            match = _LIST_ENTRY.match(item[0].rsplit(b" ", 1)[0] + b" x")
            name = item[1]
        else:
            match = _LIST_ENTRY.match(item) if isinstance(item, bytes) else None
            name = match.group("name") if match else b""
        if match:
            flags = frozenset(match.group("flags").decode("ascii", "replace").lower().split())
            names.append((_unquote(name), flags))
    return names


def server_folder_name(name: str, delimiter: str | None, field: str = "folder") -> str:
    """`Parent/Child` in the server's own hierarchy, e.g. `Parent.Child` on Dovecot Maildir++.

    A level that contains the server's delimiter cannot be expressed there, so it is refused
    rather than silently becoming two levels.
    """
    levels = name.split("/")
    if delimiter is None or delimiter == "/":
        return name
    for level in levels:
        if delimiter in level:
            raise SourceConfigError(
                field,
                f"{level!r} contains {delimiter!r}, which this server uses between folder "
                "levels; write sub-folders as Parent/Child",
            )
    return delimiter.join(levels)


def display_folder_name(server_name: str, delimiter: str | None) -> str:
    if delimiter is None or delimiter == "/":
        return server_name
    return server_name.replace(delimiter, "/")


def encode_mailbox(server_name: str) -> str:
    """A mailbox argument: modified UTF-7 (RFC 3501 §5.1.3), always sent as a quoted string."""
    encoded = utf7_encode(server_name).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def decode_mailbox(encoded: bytes) -> str:
    return utf7_decode(encoded)


def response_text(data: list[Any]) -> str:
    """The human part of a tagged response, e.g. `[AUTHENTICATIONFAILED] Authentication failed.`"""
    parts = [
        item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        for item in data
        if item is not None
    ]
    return " ".join(parts).strip()


def _fetch_items(data: list[Any]) -> Iterator[tuple[bytes, bytes | None]]:
    """(response text, literal) per FETCH response. imaplib splits a response around its
    literal: `(b'1 (UID 5 BODY[] {42}', b'...')`, then `b' FLAGS (\\Seen))'` or `b')'`; the
    text after the literal is joined back so a UID sent after the body is still found."""
    index = 0
    while index < len(data):
        item = data[index]
        if isinstance(item, tuple):
            head, literal = item[0], item[1]
            if index + 1 < len(data) and isinstance(data[index + 1], bytes):
                head += b" " + data[index + 1]
                index += 1
            yield head, literal
        elif isinstance(item, bytes):
            yield item, None
        index += 1


def _unquote(name: bytes) -> bytes:
    name = name.strip()
    if name.startswith(b'"') and name.endswith(b'"') and len(name) >= 2:
        return re.sub(rb"\\(.)", rb"\1", name[1:-1])
    return name
