"""`parse_email`: raw RFC 5322 bytes to an `InboundEmail` (see inbound.py). Pure, no IO.

Damaged mail never raises: what was wrong goes to `InboundEmail.defects`. Only bytes that
are not mail at all (empty, no header block, binary junk) raise `UnparseableEmail`. Input is
hostile by default, so the stdlib parser is shielded from what makes it slow (deep MIME
nesting, giant header values) and every number of things kept is bounded.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from email.feedparser import FeedParser
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import default
from typing import Any

from connector.mail.addresses import is_usable, parse_addresses
from connector.mail.headers import (
    ENCODED_WORD,
    decode_header,
    parse_date,
    parse_message_ids,
    parse_params,
)
from connector.mail.inbound import Address, InboundEmail, UnparseableEmail
from connector.mail.limits import DEFAULT_LIMITS, AttachmentLimits, original_attachment
from connector.mail.lists import find_list_author
from connector.mail.mime import Body, render
from connector.mail.structure import NOTHING_SET_ASIDE, SetAside, prepare, set_aside

MAX_FORWARD_DEPTH = 3
MAX_HEADERS = 1000
MAX_DEFECTS = 100
_HEADER_DECODE_LIMIT = 64 * 1024
# Longest header value the stdlib's header grammar sees; its parser is super-linear on some
# crafted values, and no real Content-Type needs more.
_HEADER_PARSE_LIMIT = 8 * 1024
_HEADER_CACHE_SIZE = 4096
# Values may be up to _HEADER_PARSE_LIMIT long: bound the cache by the text it keeps too, so
# a run of long headers holds a few MiB at most, not entries x 8 KiB.
_HEADER_CACHE_CHARS = 2 * 1024 * 1024
_PARAM_NAME = re.compile(r"[a-z0-9!#$&^_.+-]{1,100}")
# File names are read from the raw header (parts.part_info), never from the stdlib's parsed
# one; without them, the Content-Type of a message's thousands of files is parsed once.
_NAME_PARAMS = frozenset({"name"})
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([^\s"';]+)""", re.IGNORECASE)
_MAX_HINT_PARTS = 500
_FEED_CHUNK = 64 * 1024

__all__ = ["InboundEmail", "UnparseableEmail", "parse_email"]


class _BoundedHeaders(HeaderRegistry):
    """Header objects for `message[...]` that are cheap to build and never raise.

    The stdlib re-parses a header on every access, and its parser asks a part for its
    Content-Type several times; header objects are immutable, so equal values share one.
    The cache is keyed by the value as found, so a Content-Type asked for again is not
    rebuilt (`_plain_content_type`) before it is found.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[tuple[str, str], BaseHeader] = {}
        self._cached_chars = 0

    def __call__(self, name: str, value: Any) -> BaseHeader:
        key = (name, str(value)[:_HEADER_PARSE_LIMIT])
        header = self._cache.get(key)
        if header is None:
            parsed = key
            if name.lower() == "content-type":
                parsed = (name, _plain_content_type(key[1]))
            try:
                header = super().__call__(*parsed)
            except Exception:  # a header the grammar cannot read still must not stop the mail
                header = super().__call__(name, "")
            size = len(key[0]) + len(key[1])
            if (
                len(self._cache) >= _HEADER_CACHE_SIZE
                or self._cached_chars + size > _HEADER_CACHE_CHARS
            ):
                self._cache.clear()
                self._cached_chars = 0
            self._cache[key] = header
            self._cached_chars += size
        return header


def _plain_content_type(value: str) -> str:
    """Content-Type as the stdlib's structure parser should see it: rebuilt from our lenient
    reading (headers.parse_params), so its grammar meets clean quoted parameters only. That
    keeps its cost flat on hostile values and lets it use boundaries it would misread
    (`boundary=----=_Part_1` unquoted: "=" is a tspecial, RFC 2045 §5.1)."""
    main, params = parse_params(value, decode=False)
    quoted = [
        '{}="{}"'.format(name, text[:1000].replace("\\", "\\\\").replace('"', '\\"'))
        for name, text in params.items()
        if _PARAM_NAME.fullmatch(name) and name not in _NAME_PARAMS
    ]
    return "; ".join([main, *quoted])


_POLICY = default.clone(header_factory=_BoundedHeaders())


def parse_email(raw: bytes, limits: AttachmentLimits = DEFAULT_LIMITS) -> InboundEmail:
    """Parse one message. Raises `UnparseableEmail` only for bytes that are not an email.

    Files past `limits` are not kept (`InboundEmail.left_out` counts them); the whole
    message is then the last attachment, so they still reach Jira inside it.
    """
    data, defects, body_parsable = prepare(raw)
    message, aside = _parse_bytes(data, body_parsable, defects)
    del data  # `aside` keeps what the walk needs
    email = _build(message, aside, len(raw), 0, defects, limits, body_parsable)
    if not email.left_out.count:
        return email
    return replace(email, attachments=(*email.attachments, original_attachment(raw)))


def _parse_bytes(
    data: bytes, body_parsable: bool, defects: list[str]
) -> tuple[EmailMessage, SetAside]:
    """The parsed tree, and the base64 line runs set aside from it (see structure.py)."""
    message: Message | None = None
    aside = NOTHING_SET_ASIDE
    if body_parsable:
        try:
            text, aside = set_aside(data)
            message = _feed(text)
        except Exception:  # RecursionError and worse from the stdlib on hostile structure
            defects.append("MIME structure unreadable; body not parsed")
            aside = NOTHING_SET_ASIDE
    if message is None:
        try:
            message = BytesParser(policy=_POLICY).parsebytes(data, headersonly=True)
        except Exception as error:
            raise UnparseableEmail(f"header block unreadable: {type(error).__name__}") from error
    if not isinstance(message, EmailMessage):  # the policy's message_factory makes these
        raise UnparseableEmail("parser returned no message")
    return message, aside


def _feed(data: bytes) -> Message:
    """`BytesParser.parsebytes`, fed in slices: that decodes the whole message to one string
    and reads it through a `StringIO`, which stores 4 bytes a character: five times the size."""
    parser = FeedParser(policy=_POLICY)
    view = memoryview(data)
    for start in range(0, len(data), _FEED_CHUNK):
        parser.feed(str(view[start : start + _FEED_CHUNK], "ascii", "surrogateescape"))
    return parser.close()


def _charset_hints(message: Message) -> tuple[str, ...]:
    """Charsets the message declares anywhere: the best guesses for its undeclared text."""
    found: dict[str, None] = {}
    for _, value in message.raw_items():
        for match in ENCODED_WORD.finditer(str(value)[:_HEADER_DECODE_LIMIT]):
            found.setdefault(match.group(1).lower(), None)
    parts: list[Message] = [message]
    for part in parts:  # breadth first: the top-level declarations are the likeliest
        for key, value in part.raw_items():
            if key.lower() == "content-type":
                for match in _CHARSET_PARAM.finditer(str(value)[:_HEADER_PARSE_LIMIT]):
                    found.setdefault(match.group(1).lower(), None)
        payload = part.get_payload()
        if isinstance(payload, list) and len(parts) < _MAX_HINT_PARTS:
            parts.extend(child for child in payload if isinstance(child, Message))
    return tuple(found)


def _raw_values(message: Message, name: str) -> list[str]:
    wanted = name.lower()
    return [str(value) for key, value in message.raw_items() if key.lower() == wanted]


def _addresses(message: Message, name: str, hints: tuple[str, ...]) -> tuple[Address, ...]:
    found: list[Address] = []
    for value in _raw_values(message, name):
        found += [a for a in parse_addresses(value[:_HEADER_DECODE_LIMIT], hints) if is_usable(a)]
    return tuple(found)


def _sender(message: Message, hints: tuple[str, ...], defects: list[str]) -> Address | None:
    """The first usable From mailbox; failing that Sender, Reply-To, Return-Path (RFC 5322
    §3.6.2 names the Sender as responsible; a reply goes to Reply-To)."""
    if len(_raw_values(message, "from")) > 1:
        defects.append("several From headers")
    for header in ("From", "Sender", "Reply-To", "Return-Path"):
        for address in _addresses(message, header, hints):
            if header != "From":
                defects.append(f"no usable From address; sender taken from {header}")
            return address
    defects.append("no sender address")
    return None


def _date(message: Message, hints: tuple[str, ...], defects: list[str]) -> datetime | None:
    values = _raw_values(message, "date")
    if values:
        text = decode_header(values[0][:1024], hints)[0]
        parsed = parse_date(text)
        if parsed is not None:
            return parsed
        defects.append(f"unparseable Date {text[:60]!r}")
    # The receiving server's timestamp (after the last ";", RFC 5321 §4.4) is the next best.
    for received in _raw_values(message, "received")[:1]:
        parsed = parse_date(received.rpartition(";")[2][:200])
        if parsed is not None:
            defects.append("no valid Date; used the first Received time")
            return parsed
    return None


def _ids(message: Message, name: str) -> tuple[str, ...]:
    ids: list[str] = []
    for value in _raw_values(message, name):
        ids += parse_message_ids(value[:_HEADER_DECODE_LIMIT])
    return tuple(dict.fromkeys(ids))


def _headers(
    message: Message, hints: tuple[str, ...], defects: list[str]
) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    items = list(message.raw_items())
    if len(items) > MAX_HEADERS:
        defects.append(f"{len(items)} header fields; kept the first {MAX_HEADERS}")
    for name, value in items[:MAX_HEADERS]:
        text, problems = decode_header(str(value)[:_HEADER_DECODE_LIMIT], hints)
        headers.append((name, text))
        defects += [f"{name}: {problem}" for problem in problems]
    return tuple(headers)


def _build(
    message: EmailMessage,
    aside: SetAside,
    size: int,
    depth: int,
    defects: list[str],
    limits: AttachmentLimits,
    body_parsable: bool = True,
) -> InboundEmail:
    hints = _charset_hints(message)
    headers = _headers(message, hints, defects)
    subjects = [value for name, value in headers if name.lower() == "subject"]
    if len(subjects) > 1:
        defects.append(f"{len(subjects)} Subject headers; used the first")
    body = render(message, hints, aside, limits) if body_parsable else Body("", "", (), (), ())
    defects += body.defects
    forwarded: list[InboundEmail] = []
    for forward in body.forwarded:
        if depth >= MAX_FORWARD_DEPTH:
            defects.append(f"forwarded messages nested deeper than {MAX_FORWARD_DEPTH} not parsed")
            break
        if forward.message is not None:
            forwarded.append(
                _build(forward.message, aside, len(forward.raw), depth + 1, [], limits)
            )
            continue
        try:
            inner_data, inner_defects, inner_parsable = prepare(forward.raw)
            inner, inner_aside = _parse_bytes(inner_data, inner_parsable, inner_defects)
        except UnparseableEmail as error:
            defects.append(f"forwarded message unreadable: {error.reason}")
            continue
        forwarded.append(
            _build(
                inner,
                inner_aside,
                len(forward.raw),
                depth + 1,
                inner_defects,
                limits,
                inner_parsable,
            )
        )
    message_ids = _ids(message, "message-id")
    sender = _sender(message, hints, defects)
    list_author = find_list_author(
        sender, headers, lambda name: _addresses(message, name.lower(), hints)
    )
    if list_author is not None:
        sender = list_author.author
    return InboundEmail(
        sender=sender,
        reply_to=_addresses(message, "reply-to", hints),
        to=_addresses(message, "to", hints),
        cc=_addresses(message, "cc", hints),
        subject=subjects[0] if subjects else "",
        date=_date(message, hints, defects),
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=_ids(message, "in-reply-to"),
        references=_ids(message, "references"),
        text_body=body.text,
        html_body=body.html,
        attachments=body.attachments,
        forwarded=tuple(forwarded),
        headers=headers,
        defects=tuple(dict.fromkeys(defects))[:MAX_DEFECTS],
        size=size,
        message=message,
        left_out=body.left_out,
        list_address=list_author.list_address if list_author else None,
        sender_note=list_author.note if list_author else "",
    )
