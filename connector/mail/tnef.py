"""Outlook's `winmail.dat` (TNEF, [MS-OXTNEF]): the files and body hidden inside it.

Outlook sends TNEF when "Rich Text" is chosen for an external recipient; mail clients
other than Outlook show a useless `winmail.dat`. tnefparse does the decoding; this module
only turns its objects into plain values and contains its failures, because hostile or
truncated TNEF makes it raise anything from `ValueError` to `IndexError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tnefparse import TNEF

from connector.mail.charsets import guess_decode

TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}
TNEF_NAMES = {"winmail.dat", "win.dat"}


@dataclass(frozen=True)
class TnefContent:
    files: tuple[tuple[str, bytes], ...]  # (file name, content)
    text: str
    html: str
    unreadable: int  # members whose name or data could not be read


def is_tnef(content_type: str, filename: str | None) -> bool:
    return content_type in TNEF_TYPES or (filename or "").strip().lower() in TNEF_NAMES


def _text(value: object, hints: tuple[str, ...]) -> str:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, bytes):
        text, _ = guess_decode(value.rstrip(b"\x00"), hints)
        return text
    return ""


def unpack_tnef(data: bytes) -> TnefContent | None:
    """The attachments and body inside TNEF data, or None when it is not readable TNEF."""
    try:
        parsed = TNEF(data, do_checksum=False)
    except Exception:  # hostile TNEF makes tnefparse raise anything; all mean "unreadable"
        return None
    hints = (str(parsed.codepage),) if parsed.codepage else ()
    files: list[tuple[str, bytes]] = []
    unreadable = 0
    for number, attachment in enumerate(parsed.attachments, start=1):
        try:
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
    return TnefContent(tuple(files), text, html, unreadable)
