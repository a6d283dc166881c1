"""Raw bytes made ready for the stdlib parser, and refused when they are not mail at all.

Line endings become LF: CRLF (RFC 5322 §2.1, and the mail gem's fixtures) and the bare CR of
old Mac clients. Only real line ends are touched, so base64 and binary content survive, and a
CRLF message never gains blank lines that would cut its header block short. An mbox `From `
envelope line goes. MIME nesting deep enough to make the stdlib parser crawl (its cost per
line grows with depth; about 1000 levels raise RecursionError) is refused before parsing.

Long runs of base64 lines are set aside before parsing (`set_aside`): the stdlib parser holds a
part as a list of line strings and then as one joined string, about 3.5 times the part's size
at once, for bytes that only need decoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from connector.mail.headers import raw_bytes
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
# Control bytes text does not hold. ESC (ISO-2022-JP's escape sequences) and SO/SI (the shifts
# ISO-2022-KR, RFC 1557, puts around every run of Hangul) are text.
_BINARY = re.compile(rb"[\x00-\x08\x10-\x1a\x1c-\x1f]")
_CONTAINER = re.compile(rb"^content-type:[ \t]*(?:multipart|message)/", re.IGNORECASE | re.M)
_STRUCTURE = re.compile(
    rb"^content-type:[ \t]*(multipart|message)/[^\n]*(?:\n[ \t][^\n]*)*|^--([^\n]*)",
    re.IGNORECASE | re.MULTILINE,
)
_BOUNDARY = re.compile(rb"""boundary\s*=\s*(?:"([^"\n]*)"|([^\s;"]+))""", re.IGNORECASE)


# Lines of base64 characters only, ended by LF: no ":" or space (not a header field, not an
# mbox "From "), no "-" (not a boundary delimiter), not blank. The stdlib parser treats such a
# line as opaque text wherever it stands (headerRE, the boundary and blank-line matchers in
# email/feedparser.py), so a run of them can become one marker line without changing the tree.
SET_ASIDE_MIN = 256 * 1024  # not below bounce.HEURISTIC_MAX_BYTES: flufl.bounce reads bodies
# Lines of 16 characters or more (encoders write 64 to 76), then a last shorter one: text of
# short words yields no matches to sift. Possessive: no backtracking state kept per line, so a
# run of any length costs no memory.
_OPAQUE_LINES = re.compile(rb"^(?:[A-Za-z0-9+/=]{16,}+\n)++(?:[A-Za-z0-9+/=]++\n)?+", re.MULTILINE)
_MARKER = b"MailConnectorSetAside"
_MARKERS = re.compile(re.escape(_MARKER) + b"X*")
_MARKER_LINE_LIMIT = 200  # characters; a payload that is one marker line and blank lines


@dataclass(frozen=True)
class SetAside:
    """Line runs cut out of the bytes given to the parser, each replaced by a marker line
    `<marker><number>Z`; the parsed tree keeps the markers, its parts' bytes come back here."""

    data: bytes = field(default=b"", repr=False)
    spans: tuple[tuple[int, int], ...] = ()
    marker: bytes = _MARKER

    @cached_property
    def _in_bytes(self) -> re.Pattern[bytes]:
        return re.compile(re.escape(self.marker) + rb"([0-9]+)Z")

    @cached_property
    def _in_text(self) -> re.Pattern[str]:
        return re.compile(self._in_bytes.pattern.decode("ascii"))

    def _run(self, number: str | bytes) -> memoryview:
        start, end = self.spans[int(number)]
        return memoryview(self.data)[start:end]

    def restore(self, payload: str) -> bytes:
        """The bytes behind a payload string from `BytesParser` (8-bit kept as surrogates)."""
        if not self.spans or self.marker.decode("ascii") not in payload:
            return raw_bytes(payload)
        pieces: list[bytes | memoryview] = []
        position = 0
        for match in self._in_text.finditer(payload):
            pieces += [raw_bytes(payload[position : match.start()]), self._run(match.group(1))]
            position = match.end()
        pieces.append(raw_bytes(payload[position:]))
        return b"".join(pieces)

    def restore_bytes(self, data: bytes) -> bytes:
        """`data` (a part serialised from the tree) with the set-aside runs back in place."""
        if not self.spans or self.marker not in data:
            return data
        view = memoryview(data)
        pieces: list[memoryview] = []
        position = 0
        for match in self._in_bytes.finditer(data):
            pieces += [view[position : match.start()], self._run(match.group(1))]
            position = match.end()
        pieces.append(view[position:])
        return b"".join(pieces)

    def base64_source(self, payload: str) -> bytes | memoryview:
        """What to base64-decode for this payload: the set-aside run itself, uncopied, when
        the payload is that run and whitespace (which base64 decoding skips), else `restore`."""
        if self.spans and len(payload) < _MARKER_LINE_LIMIT:
            match = self._in_text.fullmatch(payload.strip(" \t\r\n"))
            if match:
                return self._run(match.group(1))
        return self.restore(payload)


NOTHING_SET_ASIDE = SetAside()


def set_aside(data: bytes, minimum: int = SET_ASIDE_MIN) -> tuple[bytes, SetAside]:
    """(bytes for the parser, what was set aside): runs of at least `minimum` bytes. Each run
    keeps its last line end in place, so the rule that the line end before a boundary belongs
    to the boundary (RFC 2046 §5.1.1) applies to the same line end as before."""
    if len(data) < minimum:
        return data, NOTHING_SET_ASIDE
    spans = [
        (match.start(), match.end() - 1)
        for match in _OPAQUE_LINES.finditer(data)
        if match.end() - 1 - match.start() >= minimum
    ]
    if not spans:
        return data, NOTHING_SET_ASIDE
    # A marker the message does not contain: the longest "MailConnectorSetAsideXX..." plus an X.
    longest = max((found.end() - found.start() for found in _MARKERS.finditer(data)), default=0)
    marker = _MARKER + b"X" * (longest - len(_MARKER) + 1) if longest else _MARKER
    view = memoryview(data)
    pieces: list[bytes | memoryview] = []
    position = 0
    for number, (start, end) in enumerate(spans):
        pieces += [view[position:start], marker + b"%dZ" % number]
        position = end
    pieces.append(view[position:])
    return b"".join(pieces), SetAside(data, tuple(spans), marker)


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
    header_end = len(data) if header_end < 0 else header_end
    lines = data[:header_end].split(b"\n")
    # The body, uncopied: it is most of a large message and is rebuilt only after a repair.
    rest = memoryview(data)[header_end:]
    if len(lines) > MAX_HEADER_LINES:
        extra = [line for line in lines[MAX_HEADER_LINES:] if _MIME_FIELD.match(line)]
        defects.append(f"{len(lines)} header lines; dropped all but the first {MAX_HEADER_LINES}")
        lines = lines[:MAX_HEADER_LINES] + extra
        data = b"".join([b"\n".join(lines), rest])
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
    return b"".join([b"\n".join(lines), rest]) if spaced or joined else data


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
