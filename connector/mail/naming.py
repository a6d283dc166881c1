"""File names for attachments: cleaned when the message gives one, made up when it does not.

A sender chooses the name, and Jira shows it to agents who download and open the file, so a
given name keeps only what is safe to show: its last path segment, without control and
format characters, at most `MAX_NAME_BYTES` long. Format characters (Unicode category Cf)
include the bidi controls: "invoice<U+202E>fdp.exe", with U+202E RIGHT-TO-LEFT OVERRIDE, shows
as "invoiceexe.pdf" (Unicode Technical Report #36, Unicode Security Considerations), and
zero-width characters make two different names look the same.

A small fixed table instead of `mimetypes`, which reads the host's /etc/mime.types and so
names the same attachment differently on different machines.
"""

from __future__ import annotations

import re
import unicodedata

_EXTENSIONS = {
    "application/msword": ".doc",
    "application/pdf": ".pdf",
    "application/pgp-encrypted": ".pgp",
    "application/pgp-signature": ".asc",
    "application/pkcs7-mime": ".p7m",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/json": ".json",
    "application/xml": ".xml",
    "application/zip": ".zip",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "image/bmp": ".bmp",
    "image/gif": ".gif",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/svg+xml": ".svg",
    "image/tiff": ".tif",
    "image/webp": ".webp",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/feedback-report": ".txt",
    "message/global": ".eml",
    "message/rfc822": ".eml",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/html": ".html",
    "text/plain": ".txt",
    "text/rfc822-headers": ".txt",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
}
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_TYPES = {extension: kind for kind, extension in _EXTENSIONS.items() if "/" in kind}
_TYPES.update({".jpeg": "image/jpeg", ".htm": "text/html", ".txt": "text/plain"})
_STEMS = {
    "message/delivery-status": "delivery-status",
    "message/disposition-notification": "disposition-notification",
    "message/feedback-report": "feedback-report",
    "message/rfc822": "forwarded-message",
    "message/global": "forwarded-message",
    "text/calendar": "invite",
    "text/html": "document",
    "text/rfc822-headers": "headers",
}
_CID_NAME = re.compile(r"^[\w.+-]{1,100}$")
_MAX_STEM = 150
# Most file systems allow 255 bytes a name (ext4, XFS, APFS count UTF-8 bytes); the room
# left is for the number `numbered` adds to a repeated name.
MAX_NAME_BYTES = 255
_NUMBER_ROOM = 8
_MAX_EXTENSION = 16  # characters after the last dot that still count as an extension
# Control (Cc), format (Cf: bidi controls, zero-width characters, the BOM), line and
# paragraph separators (Zl, Zp), and lone surrogates (Cs) that no UTF-8 name can carry.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_INPUT_LIMIT = 4096  # characters of a given name looked at; the rest cannot survive the cap


def clean_filename(name: str) -> str:
    """The last path segment of a sender-supplied name, without control and format
    characters, shortened to `MAX_NAME_BYTES` (less room for a number) keeping its extension;
    "" when nothing usable is left."""
    name = name[-_INPUT_LIMIT:].replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in _DROPPED_CATEGORIES)
    name = name.strip()
    if name.strip(".") == "":
        return ""
    return _shortened(name, MAX_NAME_BYTES - _NUMBER_ROOM)


def _shortened(name: str, limit: int) -> str:
    """`name` in at most `limit` UTF-8 bytes, cut in its stem so the extension survives."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION:
        stem, extension = name, ""
    tail = "." + extension if extension else ""
    room = limit - len(tail.encode("utf-8"))
    # Cut at a character boundary: a partial UTF-8 sequence at the end is dropped.
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip()
    return cut + tail


def attachment_name(
    filename: str | None,
    content_type: str,
    content_id: str | None,
    subject: str = "",
    description: str = "",
) -> tuple[str, bool]:
    """(name, whether the message gave it). The given name; else, for a forwarded message,
    its subject; else the Content-Description (Postfix: "Delivery report"); else the local
    part of the Content-ID (Outlook's `image001.png@...`); else a name from the type."""
    if filename:
        cleaned = clean_filename(filename)
        if cleaned:
            return cleaned, True
    kind = _ALIASES.get(content_type, content_type)
    extension = _EXTENSIONS.get(kind, "")
    for text in (subject if extension == ".eml" else "", description):
        cleaned = clean_filename(text)[:_MAX_STEM]
        if cleaned:
            return cleaned + extension, False
    if content_id:
        local = content_id.split("@", 1)[0]
        if _CID_NAME.match(local):
            return (local if "." in local else local + extension), False
    stem = _STEMS.get(kind) or {"image": "image", "video": "video", "audio": "audio"}.get(
        kind.split("/", 1)[0], "attachment"
    )
    return stem + extension, False


def numbered(name: str, taken: set[str], counters: dict[str, int]) -> str:
    """`name`, or with the next free number added: document1.html, 32497.2-1. `counters`
    remembers where each name's numbering got to, so 20,000 "image.png" stay linear."""
    if name not in taken:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and 0 < len(extension) <= 5 and extension.isalnum() and not extension.isdigit():
        pattern = stem + "{}." + extension
    else:
        pattern = name + "-{}"
    number = counters.get(name, 1)
    while pattern.format(number) in taken:
        number += 1
    counters[name] = number + 1
    return pattern.format(number)


def type_for_name(name: str) -> str:
    """A content type from a file name's extension (for TNEF members, which carry none)."""
    extension = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return _TYPES.get(extension, "application/octet-stream")
