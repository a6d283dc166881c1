"""File names for attachments: cleaned when the message gives one, made up when it does not.

A small fixed table instead of `mimetypes`, which reads the host's /etc/mime.types and so
names the same attachment differently on different machines.
"""

from __future__ import annotations

import re

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
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")
_CID_NAME = re.compile(r"^[\w.+-]{1,100}$")
_MAX_STEM = 150


def clean_filename(name: str) -> str:
    """The last path segment of a sender-supplied name, without control characters."""
    name = _UNSAFE.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return "" if name.strip(".") == "" else name


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
