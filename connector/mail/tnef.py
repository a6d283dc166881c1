"""Outlook's `winmail.dat` (TNEF, [MS-OXTNEF]): the files and body hidden inside it.

Outlook sends TNEF when "Rich Text" is chosen for an external recipient; mail clients
other than Outlook show a useless `winmail.dat`. tnefparse does the decoding; this module
turns its objects into plain values and contains its failures, because hostile or
truncated TNEF makes it raise anything from `ValueError` to `IndexError`.

It also bounds tnefparse's work, which grows with the product of attributes and bytes (it
copies the rest of the stream for every attribute: 100,000 members in 8 MB took 28 s to
over a minute) and follows embedded messages without limit. The attribute stream (§2.1.3:
level, id, length, data, checksum) is walked here first, cheaply, and only what is used is
handed on: the message attributes that carry the body, and the attributes of the first
`max_files` members, each member on its own. The members past that are counted and the
first few named from the walk alone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from tnefparse import TNEF
from tnefparse.mapi import IMESSAGE_SIG

from connector.mail.charsets import guess_decode
from connector.mail.limits import MAX_LISTED
from connector.mail.naming import clean_filename

TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}
TNEF_NAMES = {"winmail.dat", "win.dat"}

_SIGNATURE = struct.pack("<I", 0x223E9F78)
_HEADER = struct.Struct("<BHHI")  # level, attribute id, attribute type, data length
_FRAME = _HEADER.size + 2  # the header and the checksum after the data
_LEVEL_ATTACHMENT = 2
_ATTACHMENT_START = 0x9002  # attAttachRendData opens each member (§2.1.3.3.14)
_TITLE, _DATA = 0x8010, 0x800F  # attAttachTitle, attAttachData
_CODEPAGE = 0x9007  # attOemCodepage
# What tnefparse reads for us; every other attribute is left out of what it is given.
_MESSAGE_KEPT = {0x9006, _CODEPAGE, 0x800C, 0x9003}  # version, code page, body, MAPI props
_MEMBER_KEPT = {_ATTACHMENT_START, _TITLE, _DATA, 0x9005}  # + the member's MAPI props
_MAPI = {0x9003, 0x9005}  # attributes holding a MAPI property list (§2.1.3.4)
_MAX_KEPT = 16  # attributes of one kind per member or message: the first ones are enough
# Embedded messages (a forwarded Outlook item) are TNEF streams that tnefparse reads in full;
# a member whose embedded streams hold more attributes than this is not handed to it.
_EMBEDDED_ATTRIBUTES = 500


@dataclass(frozen=True)
class TnefContent:
    files: tuple[tuple[str, bytes], ...]  # (file name, content)
    text: str
    html: str
    unreadable: int  # members whose name or data could not be read
    # Members not unpacked: past `max_files`, or too deep to unpack. Their count and bytes,
    # and the first `MAX_LISTED` as (name, size).
    more: int = 0
    more_bytes: int = 0
    more_listed: tuple[tuple[str, int], ...] = ()


@dataclass
class _Member:
    kept: bool
    spans: list[tuple[int, int]] = field(default_factory=list)
    title: bytes = b""
    size: int = 0  # attAttachData's length, else all of the member's attribute data
    sized: bool = False  # attAttachData seen


@dataclass
class _Layout:
    message: list[tuple[int, int]] = field(default_factory=list)
    codepage: tuple[int, int] | None = None
    members: list[_Member] = field(default_factory=list)
    more: int = 0
    more_bytes: int = 0
    more_named: list[tuple[bytes, int]] = field(default_factory=list)

    def close(self, member: _Member | None) -> None:
        """Count a member that was walked but not kept."""
        if member is None or member.kept:
            return
        self.more += 1
        self.more_bytes += member.size
        if len(self.more_named) < MAX_LISTED:
            self.more_named.append((member.title, member.size))


def is_tnef(content_type: str, filename: str | None) -> bool:
    return content_type in TNEF_TYPES or (filename or "").strip().lower() in TNEF_NAMES


def _text(value: object, hints: tuple[str, ...]) -> str:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, bytes):
        text, _ = guess_decode(value.rstrip(b"\x00"), hints)
        return text
    return ""


def _sane_mapi(data: bytes, start: int, length: int) -> bool:
    """A MAPI property list whose count fits its length: tnefparse loops over the count it
    reads (up to 2**32) even when the data ends long before."""
    return length >= 4 and struct.unpack_from("<I", data, start)[0] * 4 <= length


def _walk(data: bytes, max_files: int) -> _Layout:
    """Where the attributes worth parsing are, and what the members past `max_files` hold.
    Mirrors tnefparse's framing: 6 bytes of signature and key, then attributes while more
    than 12 bytes remain, a length running past the end cut at the end."""
    layout = _Layout()
    member: _Member | None = None
    offset = 6
    end = len(data)
    while offset + 12 < end:
        level, attribute, _, length = _HEADER.unpack_from(data, offset)
        size = min(end - offset, length + _FRAME)
        start = offset + _HEADER.size
        span = (offset, offset + size)
        offset += size
        if attribute in _MAPI and not _sane_mapi(data, start, min(length, end - start)):
            continue
        if attribute == _ATTACHMENT_START:
            layout.close(member)
            member = _Member(kept=len(layout.members) < max_files)
            if member.kept:
                layout.members.append(member)
        if level == _LEVEL_ATTACHMENT and member is not None:
            if attribute == _TITLE:
                member.title = data[start : start + min(length, 1024)]
            if attribute == _DATA:
                member.size, member.sized = length, True
            elif not member.sized:
                member.size += length
            if member.kept and attribute in _MEMBER_KEPT and len(member.spans) < _MAX_KEPT:
                member.spans.append(span)
        elif attribute == _CODEPAGE:
            layout.codepage = span
        elif attribute in _MESSAGE_KEPT and len(layout.message) < _MAX_KEPT:
            layout.message.append(span)
    layout.close(member)
    return layout


def _embedded_attributes(data: bytes) -> int:
    """Attributes in the TNEF streams embedded in `data` (after each IMESSAGE_SIG, where
    tnefparse starts one), counted up to just past `_EMBEDDED_ATTRIBUTES`."""
    marker = IMESSAGE_SIG + _SIGNATURE
    counted = 0
    found = data.find(marker)
    while found >= 0 and counted <= _EMBEDDED_ATTRIBUTES:
        offset = found + len(IMESSAGE_SIG) + 6
        counted += 1
        while offset + 12 < len(data) and counted <= _EMBEDDED_ATTRIBUTES:
            length = struct.unpack_from("<I", data, offset + 5)[0]
            offset += length + _FRAME
            counted += 1
        found = data.find(marker, found + 1)
    return counted


def _stream(data: bytes, spans: list[tuple[int, int]]) -> bytes:
    """Signature, key and these attributes; and a byte more, as tnefparse stops short of a
    last attribute of exactly 12 bytes, which in the whole stream may not have been last."""
    view = memoryview(data)
    return b"".join([view[:6], *(view[start:end] for start, end in spans), b"\x00"])


def unpack_tnef(data: bytes, max_files: int = 1_000) -> TnefContent | None:
    """The body and the first `max_files` attachments inside TNEF data, or None when it is
    not readable TNEF."""
    if not data.startswith(_SIGNATURE):
        return None
    layout = _walk(data, max_files)
    codepage = [layout.codepage] if layout.codepage else []
    try:
        parsed = TNEF(_stream(data, codepage + layout.message), do_checksum=False)
    except Exception:  # hostile TNEF makes tnefparse raise anything; all mean "unreadable"
        return None
    hints = (str(parsed.codepage),) if parsed.codepage else ()
    files: list[tuple[str, bytes]] = []
    unreadable = 0
    deep: list[_Member] = []
    for number, member in enumerate(layout.members, start=1):
        stream = _stream(data, codepage + member.spans)
        if _embedded_attributes(stream) > _EMBEDDED_ATTRIBUTES:
            deep.append(member)
            continue
        try:
            attachment = TNEF(stream, do_checksum=False).attachments[0]
            name = _text(attachment.long_filename(), hints).strip()
            content = attachment.data if isinstance(attachment.data, bytes) else b""
        except Exception:  # one unreadable member must not lose the others
            unreadable += 1
            continue
        files.append((name or f"attachment-{number}", content))
    text = _text(parsed.body, hints)
    html = _text(parsed.htmlbody, hints)
    # The compressed RTF body (PR_RTF_COMPRESSED) needs the compressed_rtf package, which is
    # not a dependency; Outlook also sets PR_BODY or PR_HTML in practice.
    named = [(m.title, m.size) for m in deep] + layout.more_named
    listed = tuple((_name(title, hints), size) for title, size in named[:MAX_LISTED])
    more = layout.more + len(deep)
    more_bytes = layout.more_bytes + sum(m.size for m in deep)
    return TnefContent(tuple(files), text, html, unreadable, more, more_bytes, listed)


def _name(title: bytes, hints: tuple[str, ...]) -> str:
    return clean_filename(_text(title, hints)) or "(no name)"
