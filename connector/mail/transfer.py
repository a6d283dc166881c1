"""Content-Transfer-Encoding (RFC 2045 §6) decoding that tolerates what mailers really send.

Each decoder returns the bytes and whether the input was clean, so the parser can name the
damage in `InboundEmail.defects` instead of failing: truncated base64, stray characters,
`=` signs that start no escape in quoted-printable.
"""

from __future__ import annotations

import binascii
import re

_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=\s]")
_B64_NOT_ALPHABET = re.compile(rb"[^A-Za-z0-9+/=]+")
_B64_PADDING = re.compile(rb"=+")
# Joined encodings are a few; past this many "=", padding is noise (see decode_base64).
_MAX_PADDED_CHUNKS = 10_000
# Alphabet and line space, then at most two "=" at the end (RFC 2045 §6.8).
_B64_CLEAN = re.compile(rb"[A-Za-z0-9+/ \t\r\n]*+(?:=[ \t\r\n]*+){0,2}")
# "=" must start a soft line break or two hex digits (RFC 2045 §6.7 rules 1 and 5).
_QP_BAD_ESCAPE = re.compile(rb"=(?![0-9A-Fa-f]{2}|[ \t]*(?:\r?\n|$))")
_UU_BEGIN = re.compile(rb"^begin(?:-base64)? [0-7]{3,4} .*$", re.MULTILINE)

BASE64 = {"base64", "base-64", "b64", "x-base64"}
QUOTED_PRINTABLE = {"quoted-printable", "quoted_printable", "qp", "x-quoted-printable"}
UUENCODE = {"x-uuencode", "uuencode", "uue", "x-uue"}


def decode_base64(data: bytes | memoryview) -> tuple[bytes, bool]:
    """Decode base64 leniently: junk characters dropped, padding repaired, and concatenated
    encodings (padding in the middle, as some gateways join parts) decoded chunk by chunk."""
    if _B64_CLEAN.fullmatch(data):
        # The common case, at C speed and without a stripped copy: a2b_base64 skips the line
        # ends, and raises when the count of characters and padding do not make whole quanta.
        try:
            return binascii.a2b_base64(data), True
        except binascii.Error:
            pass
    clean = _B64_JUNK.search(data) is None
    stripped = _B64_NOT_ALPHABET.sub(b"", data)
    if stripped.count(b"=") > _MAX_PADDED_CHUNKS:
        # Not joined encodings but noise: padding everywhere made millions of chunks of a few
        # bytes each (955 MB for 25 MB). Decode it as one encoding without the padding.
        stripped = stripped.replace(b"=", b"")
        return _decode_chunk(stripped)[0], False
    decoded = bytearray()
    for chunk in _B64_PADDING.split(stripped):
        if chunk:
            piece, whole = _decode_chunk(chunk)
            decoded += piece
            clean = clean and whole
    return bytes(decoded), clean


def _decode_chunk(chunk: bytes) -> tuple[bytes, bool]:
    """One encoding without its padding; a last character that carries fewer than 8 bits
    (one past whole quanta) is dropped."""
    whole = len(chunk) % 4 != 1
    if not whole:
        chunk = chunk[:-1]
    try:
        return binascii.a2b_base64(chunk + b"=" * (-len(chunk) % 4)), whole
    except binascii.Error:
        return b"", False


def decode_quoted_printable(data: bytes, crlf: bool = False) -> tuple[bytes, bool]:
    """`crlf`: hard line breaks are CRLF in canonical form (RFC 2045 §6.7 rule 4), which
    binary content (a PDF sent as quoted-printable) needs back; text is read as lines."""
    clean = _QP_BAD_ESCAPE.search(data) is None
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    return binascii.a2b_qp(data), clean


def decode_uuencode(data: bytes) -> tuple[bytes, bool]:
    """Decode a uuencoded body (`begin 644 name` ... `end`), line by line; Exchange sends
    the lines without the `begin` line."""
    match = _UU_BEGIN.search(data)
    out: list[bytes] = []
    clean = True
    for line in data[match.end() if match else 0 :].splitlines():
        stripped = line.strip()
        if stripped == b"end":
            break
        if not stripped:
            continue
        try:
            out.append(binascii.a2b_uu(stripped))
        except binascii.Error:
            # Some encoders emit lines a few characters short; the length byte says how many.
            length = (stripped[0] - 32) & 63
            try:
                out.append(binascii.a2b_uu(stripped + b" " * 4)[:length])
            except binascii.Error:
                clean = False
    return b"".join(out), clean


def decode_transfer(
    data: bytes | memoryview, encoding: str, binary: bool = False
) -> tuple[bytes, bool]:
    """Undo a Content-Transfer-Encoding; 7bit/8bit/binary and unknown names pass through."""
    name = encoding.strip().lower()
    if name in BASE64:
        return decode_base64(data)
    data = bytes(data)
    if name in QUOTED_PRINTABLE:
        return decode_quoted_printable(data, crlf=binary)
    if name in UUENCODE:
        return decode_uuencode(data)
    return data, True
