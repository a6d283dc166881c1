"""Header values as their author meant them: unfolded, encoded words decoded, 8-bit guessed.

Works on the raw header strings the stdlib parser keeps (8-bit bytes as surrogate escapes),
not on `email.headerregistry` objects: those re-parse on every access, and their strict
RFC 5322 grammar drops display names that are merely sloppy.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from connector.mail.charsets import decode_text, escape_decode, guess_decode
from connector.mail.transfer import decode_base64

# RFC 2047 §2 encoded word. The text may hold spaces here: broken mailers put them in
# (and fold inside a word); "?" cannot occur in it, so the match still ends at the first "?=".
ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
# RFC 5322 §2.2.3: unfolding removes the line break; the run of whitespace around it is one
# space to a reader.
_BREAKS = re.compile(r"[\r\n]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PARAM_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[^";]+|;', re.DOTALL)
_PARAM = re.compile(r"\s*([^=\s]{1,100})\s*=(.*)$", re.DOTALL)
_SECTION = re.compile(r"^(.+?)(?:\*(\d{1,4}))?(\*)?$")
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_ANGLE_ID = re.compile(r"<([^<>]*)>")
_MAX_RFC2231_SECTIONS = 100
_MAX_PARAMS = 100
_DATE_COMMENT = re.compile(r"\([^()]*\)")
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


def raw_bytes(value: str) -> bytes:
    """The bytes behind a header string from `BytesParser` (8-bit kept as surrogates)."""
    try:
        return value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


def decode_8bit(value: str, hints: tuple[str, ...] = ()) -> tuple[str, str | None]:
    """Turn surrogate-escaped 8-bit bytes into text: (text, codec guessed or None)."""
    if value.isascii():
        escaped = escape_decode(value.encode("ascii")) if "\x1b" in value else None
        return escaped if escaped is not None else (value, None)
    text, used = guess_decode(raw_bytes(value), hints)
    return text, None if used == "utf-8" else used


def decode_encoded_words(value: str, hints: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """Decode RFC 2047 encoded words in `value`; (text, defects)."""
    if "=?" not in value:
        return value, []
    defects: list[str] = []
    # Pieces: (charset, bytes) for encoded words, (None, text) for literal text. Whitespace
    # between two encoded words is dropped (RFC 2047 §6.2).
    pieces: list[tuple[str | None, bytes | str]] = []
    position = 0
    for match in ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        if gap and not (gap.isspace() and pieces and pieces[-1][0] is not None):
            pieces.append((None, gap))
        charset, encoding, text = match.groups()
        if encoding in "bB":
            data, clean = decode_base64(text.encode("ascii", "replace"))
        else:
            quoted = text.encode("utf-8", "surrogateescape")
            data, clean = binascii.a2b_qp(quoted, header=True), True
        if not clean:
            defects.append(f"damaged encoded word {match.group(0)[:40]!r}")
        # Adjacent words in one charset are joined before decoding: mailers split
        # multi-byte characters across words.
        if pieces and pieces[-1][0] == charset and isinstance(pieces[-1][1], bytes):
            pieces[-1] = (charset, pieces[-1][1] + data)
        else:
            pieces.append((charset, data))
        position = match.end()
    pieces.append((None, value[position:]))
    out: list[str] = []
    for charset, content in pieces:
        if isinstance(content, str):
            out.append(content)
            continue
        text, defect = decode_text(content, charset, hints)
        if defect:
            defects.append(defect)
        out.append(text)
    return "".join(out), defects


def unfold(text: str) -> str:
    """RFC 5322 §2.2.3 unfolding, with the whitespace around each line break read as one
    space. Split and strip rather than one regex: `[ \t]*\n` rescans long blank runs from
    every position, quadratic on hostile input."""
    lines = _BREAKS.split(text)
    if len(lines) == 1:
        return text
    inner = [line.strip(" \t") for line in lines[1:-1]]
    return " ".join([lines[0].rstrip(" \t"), *inner, lines[-1].lstrip(" \t")])


def clean_text(text: str) -> str:
    """No line breaks or control characters in a one-line value (header injection, display)."""
    return _CONTROL.sub("", unfold(text.strip("\r\n")))


def decode_header(raw: str, hints: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """A raw header value to display text: unfolded, 8-bit guessed, encoded words decoded.

    Whitespace at the ends of the raw value is folding or padding and goes; whitespace an
    encoded word carries (`=?utf-8?Q?_Re?=`) is content and stays.
    """
    text = unfold(raw).strip(" \t")
    defects: list[str] = []
    text, guessed = decode_8bit(text, hints)
    if guessed:
        defects.append(f"8-bit header text decoded as {guessed}")
    text, word_defects = decode_encoded_words(text, hints)
    return clean_text(text), defects + word_defects


def _unquote(value: str) -> str:
    if value.startswith('"'):
        value = value[1:-1] if len(value) > 1 and value.endswith('"') else value[1:]
        return _QUOTED_PAIR.sub(r"\1", value)
    return value


def parse_params(
    raw: str, hints: tuple[str, ...] = (), decode: bool = True
) -> tuple[str, dict[str, str]]:
    """Split a Content-Type / Content-Disposition value: (lower-cased value, params).

    Parameter values are decoded: RFC 2231 continuations and charsets (`name*0*=utf-8''...`),
    and, though RFC 2047 §5 forbids it, encoded words inside quoted values, which Outlook
    and many webmailers send for file names. `decode=False` only unquotes and joins
    sections (a boundary must stay byte for byte what the body uses).
    """
    segments: list[list[str]] = [[]]
    for piece in _PARAM_TOKEN.findall(unfold(raw)):
        if piece == ";":
            segments.append([])
        else:
            segments[-1].append(piece)
    main, *rest = ["".join(pieces).strip() for pieces in segments[:_MAX_PARAMS]]
    # "text/plain charset=utf-8": a missing semicolon should not lose the parameter.
    if "=" in main and " " in main:
        main, _, extra = main.partition(" ")
        rest.insert(0, extra)
    simple: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    for segment in rest:
        match = _PARAM.match(segment)
        if match is None:
            continue
        name, value = match.group(1).lower(), match.group(2).strip()
        section = _SECTION.match(name)
        base, number, extended = section.groups() if section else (name, None, None)
        if number is None and extended is None:
            simple.setdefault(name, _unquote(value))
            continue
        parts = sections.setdefault(base, {})
        if len(parts) < _MAX_RFC2231_SECTIONS:
            parts.setdefault(int(number or 0), (_unquote(value), extended is not None))
    params = {
        name: _decode_simple(value, hints) if decode else value for name, value in simple.items()
    }
    for name, parts in sections.items():
        params[name] = _decode_rfc2231(parts, hints, decode)
    return main.lower(), params


def _decode_simple(value: str, hints: tuple[str, ...]) -> str:
    text, _ = decode_8bit(value, hints)
    text, _ = decode_encoded_words(text, hints)
    return clean_text(text)


def _decode_rfc2231(
    parts: dict[int, tuple[str, bool]], hints: tuple[str, ...], decode: bool = True
) -> str:
    """RFC 2231 §3-4: ordered sections; extended ones are %-encoded in the charset named by
    the first section's `charset'language'` prefix."""
    charset: str | None = None
    data = b""
    for index, number in enumerate(sorted(parts)):
        value, extended = parts[number]
        if extended:
            if index == 0 and value.count("'") >= 2:
                charset, _, value = value.split("'", 2)
            data += _percent_decode(value) if decode else raw_bytes(value)
        else:
            data += raw_bytes(value)
    if not decode:
        return data.decode("ascii", "surrogateescape")
    text, _ = decode_text(data, charset or None, hints)
    return clean_text(text)


def _percent_decode(value: str) -> bytes:
    return _PERCENT.sub(lambda match: bytes([int(match.group(1), 16)]), raw_bytes(value))


def parse_message_ids(value: str) -> tuple[str, ...]:
    """Message-IDs without angle brackets (RFC 5322 §3.6.4), in order, duplicates dropped.

    Bare ids without brackets (common from broken mailers) are taken when they hold an "@".
    """
    found = [re.sub(r"\s+", "", _DATE_COMMENT.sub("", item)) for item in _ANGLE_ID.findall(value)]
    if not found:
        found = [token.strip("<>") for token in re.split(r"[\s,]+", value) if "@" in token]
    seen: dict[str, None] = {}
    for item in found:
        if item:
            seen.setdefault(item, None)
    return tuple(seen)


def parse_date(value: str) -> datetime | None:
    """RFC 5322 §3.3 date, aware; "-0000" (zone unknown) is read as UTC."""
    # Comments and spaced-out colons are legal (RFC 5322 §3.3, §4.3) and trip the stdlib.
    # Split rather than `\s*:\s*`, which rescans a run of spaces from each of them.
    value = ":".join(part.strip() for part in _DATE_COMMENT.sub(" ", value[:300]).split(":"))
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
