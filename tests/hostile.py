"""A hostile-mail corpus, generated (never stored): one function per family of attack.

Each family is a plain function returning `(name, raw message bytes)`, so any test can feed
them to `connector preview`, to the pipeline or to a mailbox. The sizes are the ones that
hurt before the reading budget and the limits existed (issue 12): a 200,000-letter word took
224 s to render, an 8 MB `winmail.dat` became 100,000 attachments in 28 s, 1.1 MB of nested
HTML took 9.6 s, 25 MB of undeclared 8-bit text took 896 MB.

`tnef` writes TNEF ([MS-OXTNEF]) streams, which no library here can write: a signature, a
legacy key, then attributes, each a level byte, a 32-bit id (type in the high word), a length,
the data and a 16-bit checksum (the sum of the data bytes, §2.1.3.2).
"""

from __future__ import annotations

import base64
import random
import struct
from collections.abc import Callable, Iterable

MB = 1024 * 1024
TNEF_SIGNATURE = 0x223E9F78
MESSAGE, ATTACHMENT = 1, 2  # attribute levels
# Attribute ids and their types ([MS-OXTNEF] §2.1.3.3): atpText 2, atpString 1, atpByte 6,
# atpDword 8.
TNEF_VERSION = (0x9006, 0x0008)
OEM_CODEPAGE = (0x9007, 0x0006)
MESSAGE_CLASS = (0x8008, 0x0007)
BODY = (0x800C, 0x0002)
ATTACH_REND_DATA = (0x9002, 0x0006)
ATTACH_TITLE = (0x8010, 0x0001)
ATTACH_DATA = (0x800F, 0x0006)
# attAttachRendData: AttachType 1 (a file), position -1, rendering and flags 0 (§2.1.3.3.14).
_REND_DATA = struct.pack("<HIhhI", 1, 0xFFFFFFFF, -1, -1, 0)

Family = Callable[[], tuple[str, bytes]]


def message(body: bytes, content_type: str = "text/plain; charset=utf-8", **headers: str) -> bytes:
    """A whole message around `body`; `headers` add fields (underscores become dashes)."""
    fields = {
        "From": "Mallory Example <mallory@example.org>",
        "To": "support@example.com",
        "Subject": "Hostile message",
        "Date": "Mon, 01 Jan 2024 10:00:00 +0000",
        "Message-ID": "<hostile@example.org>",
        "MIME-Version": "1.0",
        "Content-Type": content_type,
    }
    fields.update({name.replace("_", "-"): value for name, value in headers.items()})
    head = "".join(f"{name}: {value}\n" for name, value in fields.items())
    return head.encode("utf-8") + b"\n" + body


def tnef_attribute(level: int, attribute: tuple[int, int], data: bytes) -> bytes:
    """One attribute: level, id, type, length, data, checksum (§2.1.3.2)."""
    checksum = sum(data) & 0xFFFF
    header = struct.pack("<BHHI", level, *attribute, len(data))
    return header + data + struct.pack("<H", checksum)


def tnef(
    files: Iterable[tuple[str, bytes]], body: str = "", *, extra: Iterable[bytes] = ()
) -> bytes:
    """A `winmail.dat`: a body (attBody) and one file per (name, content), in code page 1252
    except for names, which tnefparse reads as UTF-8; `extra` attributes go before the files."""
    parts = [
        struct.pack("<IH", TNEF_SIGNATURE, 0x1234),  # signature, legacy key
        tnef_attribute(MESSAGE, TNEF_VERSION, struct.pack("<I", 0x00010000)),
        tnef_attribute(MESSAGE, OEM_CODEPAGE, struct.pack("<II", 1252, 0)),
        tnef_attribute(MESSAGE, MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\x00"),
    ]
    if body:
        parts.append(tnef_attribute(MESSAGE, BODY, body.encode("cp1252") + b"\x00"))
    parts += extra
    for name, content in files:
        parts += [
            tnef_attribute(ATTACHMENT, ATTACH_REND_DATA, _REND_DATA),
            tnef_attribute(ATTACHMENT, ATTACH_TITLE, name.encode("utf-8") + b"\x00"),
            tnef_attribute(ATTACHMENT, ATTACH_DATA, content),
        ]
    return b"".join(parts)


def _base64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data)


def mixed(parts: Iterable[bytes], boundary: str = "hostile-boundary", **headers: str) -> bytes:
    """multipart/mixed of already formatted parts (each its header block, blank line, body)."""
    delimiter = b"--" + boundary.encode("ascii")
    body = b"".join(delimiter + b"\n" + part + b"\n" for part in parts) + delimiter + b"--\n"
    return message(body, f'multipart/mixed; boundary="{boundary}"', **headers)


def attachment_part(name_parameter: str, content: bytes, content_type: str = "") -> bytes:
    """A base64 attachment; `name_parameter` is written as is (quoted, RFC 2231, ...)."""
    kind = content_type or "application/octet-stream"
    return (
        f"Content-Type: {kind}\nContent-Disposition: attachment; {name_parameter}\n"
        "Content-Transfer-Encoding: base64\n\n"
    ).encode() + _base64_lines(content)


_TEXT_PART = b"Content-Type: text/plain; charset=utf-8\n\nSee the attached files.\n"


# --- the families -----------------------------------------------------------------------


def long_word(letters: int = 200_000) -> tuple[str, bytes]:
    """One word with no space: link detection that backtracks goes quadratic on it."""
    return "long-word", message(b"Hello,\n\n" + b"a" * letters + b"\n\nBye\n")


def utf7_long_run(letters: int = 200_000) -> tuple[str, bytes]:
    """UTF-7 (RFC 2152) that decodes to one long word: small on the wire, long in text."""
    shifted = ("\u00e9" * letters).encode("utf-7")  # one long shifted (base64) run...
    encoded = ("x" * letters).encode("utf-7")  # ...and plain ASCII, which stays ASCII
    body = b"Hi\n" + shifted + b"\n" + encoded + b"\n"
    return "utf7-long-run", message(body, "text/plain; charset=utf-7")


def qp_long_run(letters: int = 200_000) -> tuple[str, bytes]:
    """Quoted-printable with soft line breaks (RFC 2045 §6.7) joining into one long word,
    every letter escaped (=61)."""
    line = b"=61" * 25 + b"=\n"
    body = line * (letters // 25) + b"\n"
    return "qp-long-run", message(
        body, "text/plain; charset=us-ascii", Content_Transfer_Encoding="quoted-printable"
    )


def tnef_members(count: int = 100_000) -> tuple[str, bytes]:
    """A `winmail.dat` of `count` small files (8 MB at 100,000)."""
    files = ((f"file{number}.txt", b"x" * 20) for number in range(count))
    stream = tnef(files, body="The files are attached.")
    part = (
        b'Content-Type: application/ms-tnef; name="winmail.dat"\n'
        b'Content-Disposition: attachment; filename="winmail.dat"\n'
        b"Content-Transfer-Encoding: base64\n\n" + _base64_lines(stream)
    )
    return "tnef-members", mixed([_TEXT_PART, part])


def mime_parts(count: int = 9_999) -> tuple[str, bytes]:
    """multipart/mixed of `count` parts: one text part and the rest tiny attachments. 9,999
    is as many as the parser reads (structure.MAX_PARTS counts 10,000 delimiter lines)."""
    files = (
        f'Content-Type: text/plain; name="part{number}.txt"\n'
        f'Content-Disposition: attachment; filename="part{number}.txt"\n\n'
        f"part {number}\n".encode("ascii")
        for number in range(1, count)
    )
    return "mime-parts", mixed([_TEXT_PART, *files])


def nested_html(levels: int = 100_000) -> tuple[str, bytes]:
    """<div> nested `levels` deep (1.1 MB at 100,000) after a first paragraph: a sanitiser's
    tree builder checks every open element at each tag."""
    nesting = b"<div>" * levels + b"deep" + b"</div>" * levels
    html = b"<html><body><p>Before the nesting</p>" + nesting + b"</body></html>"
    return "nested-html", message(html, "text/html; charset=utf-8")


def high_bytes(size: int = 25 * MB) -> tuple[str, bytes]:
    """Lines of random 8-bit bytes with no charset declared: charset detection on all of it
    cost 8.5 s and 896 MB."""
    generator = random.Random(12)
    line_count = size // 77
    line = bytes(generator.randrange(0x80, 0x100) for _ in range(76)) + b"\n"
    lines = [line[shift:] + line[:shift] for shift in range(76)]
    body = b"".join(lines[number % 76] for number in range(line_count))
    return "high-bytes", message(
        body, "text/plain", Content_Transfer_Encoding="8bit", Subject="Undeclared 8-bit text"
    )


def broken_base64(size: int = 25 * MB) -> tuple[str, bytes]:
    """A base64 attachment with padding after every quantum and a junk character per line:
    decoded chunk by chunk, it cost 955 MB."""
    line = b"QUJD" + b"QQ==" * 17 + b"!\n"
    body = line * (size // len(line))
    part = (
        b"Content-Type: application/octet-stream\n"
        b'Content-Disposition: attachment; filename="broken.bin"\n'
        b"Content-Transfer-Encoding: base64\n\n" + body
    )
    return "broken-base64", mixed([_TEXT_PART, part])


def attribution_lookalikes(count: int = 5_000) -> tuple[str, bytes]:
    """Lines that almost are reply attributions ("On ... wrote", no colon), thousands."""
    line = b"On Mon, 1 Jan 2024 at 10:00, Someone Long Name <someone@example.org> wrote\n"
    body = b"Top line\n\n" + line * count + b"\n> quoted\n"
    return "attribution-lookalikes", message(body)


# File names that try to hide what they are, each with the name a person should be shown.
HOSTILE_NAMES: tuple[tuple[str, str], ...] = (
    # RIGHT-TO-LEFT OVERRIDE: shown as "invoice_exe.pdf", an executable all the same.
    ("invoice_\u202efdp.exe", "invoice_fdp.exe"),
    ("photo\u202egnp.scr", "photognp.scr"),
    ("report\u2066\u2069\u200b\u200d\ufeff.pdf", "report.pdf"),  # isolates, zero-widths, BOM
    ("../../etc/passwd", "passwd"),
    ("C:\\Windows\\System32\\evil.bat", "evil.bat"),
    # Terminal escapes: BEL, ESC [31m (red), DEL, the C1 CSI.
    ("bell\x07\x1b[31mred\x7f\x9b0m.txt", "bell[31mred0m.txt"),
    ("\u0085next\u2028line\u2029para.txt", "nextlinepara.txt"),
)


def bidi_names() -> tuple[str, bytes]:
    """Attachments whose names use bidi overrides, invisible characters, control characters,
    path separators and a 1,000-character stem, sent as RFC 2231 parameters (§4: charset and
    %-escapes), which is how a mailer sends any non-ASCII name."""
    from urllib.parse import quote

    parts = [_TEXT_PART]
    names = [name for name, _ in HOSTILE_NAMES] + ["\u00e9" * 1000 + ".pdf"]
    for number, name in enumerate(names):
        parameter = f"filename*=utf-8''{quote(name, safe='')}"
        parts.append(attachment_part(parameter, f"file {number}\n".encode("ascii")))
    stream = tnef([(HOSTILE_NAMES[0][0], b"MZ tnef member\n")], body="Rich text body")
    parts.append(
        b'Content-Type: application/ms-tnef; name="winmail.dat"\n'
        b"Content-Transfer-Encoding: base64\n\n" + _base64_lines(stream)
    )
    return "bidi-names", mixed(parts)


def large_attachment(size: int = 25 * MB) -> tuple[str, bytes]:
    """Not hostile: the control case. An ordinary PDF-sized file filling a message of `size`
    bytes, as a source's default size limit (25 MB) lets through."""
    content = random.Random(25).randbytes(size * 57 // 77 - 4096)  # 57 bytes a base64 line
    part = attachment_part('filename="scan.pdf"', content, "application/pdf")
    return "large-attachment", mixed([_TEXT_PART, part])


# Every hostile family; `large_attachment` is the ordinary case to compare them with.
FAMILIES: tuple[Family, ...] = (
    long_word,
    utf7_long_run,
    qp_long_run,
    tnef_members,
    mime_parts,
    nested_html,
    high_bytes,
    broken_base64,
    attribution_lookalikes,
    bidi_names,
)
