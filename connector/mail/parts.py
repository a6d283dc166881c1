"""One MIME part read on its own: type, parameters, names, its bytes, its text shape.

Everything here is read from the raw header strings, leniently (see headers.py), and nothing
here knows where the part sits in the tree; that is mime.py's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.policy import Compat32
from html import escape

from connector.mail.headers import decode_header, parse_params

_TYPE = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")
_TOKEN = re.compile(r"[\w.-]+")
_VALUE_LIMIT = 16 * 1024  # no real MIME header needs more; hostile ones get no further
_PARSER_DEFECTS = {
    "StartBoundaryNotFoundDefect": "multipart boundary never found",
    "CloseBoundaryNotFoundDefect": "multipart not closed",
    "NoBoundaryInMultipartDefect": "multipart without boundary",
    "MissingHeaderBodySeparatorDefect": "no blank line after the headers",
    "FirstHeaderLineIsContinuationDefect": "first header line is a continuation",
    "MisplacedEnvelopeHeaderDefect": "mbox From line among the headers",
    "MultipartInvariantViolationDefect": "multipart type on a single part",
    "InvalidMultipartContentTransferEncodingDefect": "transfer encoding on a multipart",
}


class _Verbatim(Compat32):
    """Serialise embedded messages as they came: headers exactly as parsed (no re-folding,
    no space added after an empty field's colon), bodies without ">From " mangling."""

    def fold_binary(self, name: str, value: str) -> bytes:
        text = f"{name}:{' ' if value else ''}{value}{self.linesep}"
        return text.encode("utf-8", "surrogateescape")


_VERBATIM = _Verbatim(linesep="\n", max_line_length=0, mangle_from_=False)


@dataclass(frozen=True)
class PartInfo:
    content_type: str
    params: dict[str, str]
    disposition: str
    filename: str | None
    content_id: str | None
    transfer_encoding: str
    description: str


def part_info(part: Message, hints: tuple[str, ...]) -> PartInfo:
    """Type, parameters, disposition, file name, Content-ID and encoding of one part."""
    wanted = {
        "content-type",
        "content-disposition",
        "content-id",
        "content-transfer-encoding",
        "content-description",
    }
    found: dict[str, str] = {}
    for key, value in part.raw_items():
        name = key.lower()
        if name in wanted and name not in found:
            found[name] = str(value)[:_VALUE_LIMIT]
    content_type, params = parse_params(found.get("content-type", ""), hints)
    if not _TYPE.match(content_type):
        content_type = part.get_default_type()  # RFC 2045 §5.2; message/rfc822 in digests
    disposition, disposition_params = parse_params(found.get("content-disposition", ""), hints)
    filename = disposition_params.get("filename") or params.get("name") or None
    content_id = None
    if "content-id" in found:
        content_id = decode_header(found["content-id"])[0].strip().strip("<>").strip() or None
    encoding = _TOKEN.search(found.get("content-transfer-encoding", ""))
    return PartInfo(
        content_type=content_type,
        params=params,
        disposition=disposition.split(" ")[0],
        filename=filename,
        content_id=content_id,
        transfer_encoding=encoding.group().lower() if encoding else "",
        description=decode_header(found.get("content-description", "")[:500], hints)[0],
    )


def serialize(message: Message) -> bytes:
    try:
        return message.as_bytes(policy=_VERBATIM)
    except Exception:  # the generator trips over what the parser let through; keep going
        return b""


def text_to_html(text: str) -> str:
    return "<div>" + escape(text).replace("\n", "<br>\n") + "</div>"


def unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: join soft line breaks (trailing space), undo space-stuffing."""
    out: list[str] = []
    carry = ""
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content.removeprefix(" ")  # §4.4 space-stuffing
        flowed = content.endswith(" ") and content != "-- "  # §4.3 signature separator
        if carry and depth == len(carry) - len(carry.lstrip(">")):
            line_text = carry + content
        else:
            if carry:
                out.append(carry)
            line_text = ">" * depth + (" " if depth and content else "") + content
        if flowed:
            carry = line_text[:-1] if delsp else line_text
        else:
            out.append(line_text)
            carry = ""
    if carry:
        out.append(carry)
    return "\n".join(out)


def parser_defects(part: Message) -> list[str]:
    """The stdlib parser's findings on this part, in words."""
    return [
        _PARSER_DEFECTS.get(type(defect).__name__, type(defect).__name__) for defect in part.defects
    ]
