"""Raw bytes made ready for the stdlib parser, and refused when they are not mail at all.

Line endings become LF: CRLF (RFC 5322 §2.1, and the mail gem's fixtures) and the bare CR of
old Mac clients. Only real line ends are touched, so base64 and binary content survive, and a
CRLF message never gains blank lines that would cut its header block short. An mbox `From `
envelope line goes. MIME nesting deep enough to make the stdlib parser crawl (its cost per
line grows with depth; about 1000 levels raise RecursionError) is refused before parsing.
"""

from __future__ import annotations

import re

from connector.mail.inbound import UnparseableEmail

MAX_NESTING = 20
MAX_PARTS = 10_000  # MIME parts; the stdlib and the walk cost ~50 µs each
MAX_CONTAINERS = 1_000  # multipart and message parts
MAX_HEADER_LINES = 20_000  # in the top header block; MIME fields beyond it are still kept
_BOM = b"\xef\xbb\xbf"
_MBOX_FROM = re.compile(rb"From [^\s:][^\n]*\n")
# RFC 5322 §3.6.8 field name, plus the obsolete whitespace before the colon (§4.5).
_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
# Fields that open real messages; a junk line ("---- Original email message ----") before
# one of them is skipped rather than the message refused.
_KNOWN_FIRST_FIELD = re.compile(
    rb"(?:from|to|subject|date|received|return-path|delivered-to|message-id|mime-version"
    rb"|content-type|reply-to|sender|x-[\w-]+)[ \t]*:",
    re.IGNORECASE,
)
_MAX_JUNK_LINES = 5
_MIME_FIELD = re.compile(rb"(?:content-[\w-]+|mime-version)[ \t]*:", re.IGNORECASE)
_SPACED_NAME = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]+:")
_BINARY = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_CONTAINER = re.compile(rb"^content-type:[ \t]*(?:multipart|message)/", re.IGNORECASE | re.M)
_STRUCTURE = re.compile(
    rb"^content-type:[ \t]*(multipart|message)/[^\n]*(?:\n[ \t][^\n]*)*|^--([^\n]*)",
    re.IGNORECASE | re.MULTILINE,
)
_BOUNDARY = re.compile(rb"""boundary\s*=\s*(?:"([^"\n]*)"|([^\s;"]+))""", re.IGNORECASE)


def _normalise_line_endings(data: bytes) -> bytes:
    if b"\r" not in data:
        return data
    if b"\r\n" in data:
        return data.replace(b"\r\n", b"\n")
    if data.count(b"\r") > data.count(b"\n"):  # CR-only (classic Mac OS)
        return data.replace(b"\r", b"\n")
    return data


def _repair_header_block(data: bytes, defects: list[str]) -> bytes:
    """Make a sloppy header block readable to the stdlib parser:
    - "Subject  : x", the obsolete space before the colon (RFC 5322 §4.5.1), loses it;
    - lines that are neither fields nor folded continuations (a mailer wrapped a long field
      without indenting) join the field above, as long as real fields follow; otherwise the
      stdlib would end the header block there and read the rest as body."""
    header_end = data.find(b"\n\n")
    head, rest = (data[:header_end], data[header_end:]) if header_end >= 0 else (data, b"")
    lines = head.split(b"\n")
    if len(lines) > MAX_HEADER_LINES:
        extra = [line for line in lines[MAX_HEADER_LINES:] if _MIME_FIELD.match(line)]
        defects.append(f"{len(lines)} header lines; dropped all but the first {MAX_HEADER_LINES}")
        lines = lines[:MAX_HEADER_LINES] + extra
        data = b"\n".join(lines) + rest
    spaced = [index for index, line in enumerate(lines) if _SPACED_NAME.match(line)]
    for index in spaced:
        lines[index] = _SPACED_NAME.sub(rb"\1:", lines[index], count=1)
    if spaced:
        defects.append(f"{len(spaced)} header name(s) with space before the colon")
    bad = [
        index
        for index, line in enumerate(lines)
        if line and line[:1] not in b" \t" and not _HEADER_LINE.match(line)
    ]
    last_field = max(
        (index for index, line in enumerate(lines) if _KNOWN_FIRST_FIELD.match(line)), default=-1
    )
    joined = [index for index in bad if 0 < index < last_field]
    for index in joined:
        lines[index] = b" " + lines[index]
    if joined:
        defects.append(f"{len(joined)} unindented header line(s) joined to the field above")
    return b"\n".join(lines) + rest if spaced or joined else data


def nesting_depth(data: bytes) -> int:
    """Deepest MIME nesting, estimated from Content-Type lines and boundary delimiters
    without parsing: each multipart or message/* opens a level, a delimiter line of an
    enclosing boundary closes those opened inside it (RFC 2046 §5.1.1)."""
    stack: list[bytes | None] = []
    deepest = 0
    for match in _STRUCTURE.finditer(data):
        kind, delimiter = match.group(1), match.group(2)
        if kind is not None:
            if kind.lower() == b"multipart":
                boundary = _BOUNDARY.search(match.group(0))
                stack.append((boundary.group(1) or boundary.group(2)) if boundary else b"")
            else:
                stack.append(None)
            deepest = max(deepest, len(stack))
            if deepest > MAX_NESTING:  # enough to refuse; keeps the stack scans short
                return deepest
            continue
        delimiter = delimiter.rstrip(b" \t")  # RFC 2046 §5.1.1 allows trailing blanks
        closing = delimiter.endswith(b"--")
        name = delimiter[:-2] if closing else delimiter
        if name in stack:
            index = len(stack) - 1 - stack[::-1].index(name)
            del stack[index + (0 if closing else 1) :]
    return deepest


def prepare(raw: bytes) -> tuple[bytes, list[str], bool]:
    """(bytes to parse, defects, whether the body may be parsed). Raises UnparseableEmail."""
    defects: list[str] = []
    data = raw[len(_BOM) :] if raw.startswith(_BOM) else raw
    data = data.lstrip(b" \t\r\n")
    if not data:
        raise UnparseableEmail("empty")
    data = _normalise_line_endings(data)
    match = _MBOX_FROM.match(data)
    if match:
        data = data[match.end() :].lstrip(b"\n")
    if not _HEADER_LINE.match(data):
        lines = data.split(b"\n", _MAX_JUNK_LINES + 1)[: _MAX_JUNK_LINES + 1]
        for index, line in enumerate(lines[1:], start=1):
            if _KNOWN_FIRST_FIELD.match(line):
                defects.append(f"{index} line(s) before the header block skipped")
                data = b"\n".join(data.split(b"\n", index)[index:])
                break
    start = data[:4096]
    if b"\x00" in start[:1024] or len(_BINARY.findall(start)) > len(start) // 100:
        raise UnparseableEmail("binary data, not an email")
    if not _HEADER_LINE.match(data):
        raise UnparseableEmail("no header block: the first line is not a header field")
    data = _repair_header_block(data, defects)
    body_parsable = True
    containers = len(_CONTAINER.findall(data))
    if containers > MAX_CONTAINERS:  # the stdlib compiles a regex per boundary
        defects.append(
            f"{containers} multipart/message parts (limit {MAX_CONTAINERS}); body not read"
        )
        body_parsable = False
    elif containers > MAX_NESTING:
        depth = nesting_depth(data)
        if depth > MAX_NESTING:
            defects.append(f"MIME nesting deeper than {MAX_NESTING} levels; body not read")
            body_parsable = False
    parts = count_parts(data)
    if body_parsable and parts > MAX_PARTS:
        defects.append(f"{parts} MIME parts (limit {MAX_PARTS}); body not read")
        body_parsable = False
    return data, defects, body_parsable


def count_parts(data: bytes) -> int:
    """Delimiter lines of the boundaries the message declares (at most, as a boundary that
    prefixes another is counted for both); cheap when there are few lines starting "--"."""
    if data.count(b"\n--") <= MAX_PARTS:
        return 0
    boundaries = {match.group(1) or match.group(2) for match in _BOUNDARY.finditer(data)}
    return sum(data.count(b"\n--" + boundary) for boundary in list(boundaries)[:50] if boundary)
