"""The MIME tree read the way a mail client renders it (RFC 2045-2049, 2183, 2387).

Which text and HTML are the body, which parts are files or inline images, which are
forwarded messages. The stdlib parser decides the tree's shape; everything read from a part
(type, parameters, file name, transfer encoding, charset) is decoded here, leniently.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from urllib.parse import unquote

from connector.mail.charsets import decode_text
from connector.mail.headers import decode_header
from connector.mail.html import says_nothing
from connector.mail.inbound import NOTHING_LEFT_OUT, LeftOut, MailAttachment
from connector.mail.limits import DEFAULT_LIMITS, Allowance, AttachmentLimits
from connector.mail.naming import attachment_name, numbered, type_for_name
from connector.mail.parts import (
    PartInfo,
    parser_defects,
    part_info,
    serialize,
    text_to_html,
    unflow,
)
from connector.mail.structure import NOTHING_SET_ASIDE, SetAside
from connector.mail.tnef import is_tnef, unpack_tnef
from connector.mail.transfer import BASE64, QUOTED_PRINTABLE, UUENCODE, decode_transfer

MAX_DEPTH = 25
_UNFLOW_LIMIT = 1_000_000  # characters; a longer "flowed" body is shown as sent
FORWARDED_TYPES = {"message/rfc822", "message/global", "message/news"}
_KNOWN_ENCODINGS = {"", "7bit", "8bit", "binary"} | BASE64 | QUOTED_PRINTABLE | UUENCODE
# Possessive spaces, and no `<` inside the tag: as `\s*["']?\s*` the spaces after "=" could be
# split two ways, and `[^>]+` read on past one unclosed "<meta" into the next.
_META_CHARSET = re.compile(
    rb"""<meta[^<>]+charset\s*+=\s*+(?:["']\s*+)?([\w.:-]+)""", re.IGNORECASE
)
_CID_REFERENCE = re.compile(r"""cid:([^\s"'<>)]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class _Pending:
    filename: str
    content_type: str
    content: bytes
    content_id: str | None
    inline: bool
    from_tnef: bool = False
    named: bool = True  # the message gave the name (made-up names get numbered if repeated)


@dataclass(frozen=True)
class Forward:
    """An embedded message: already parsed, or raw bytes still to parse (when a mailer
    transfer-encoded the message/rfc822 part, which RFC 2046 §5.2.1 forbids)."""

    message: EmailMessage | None
    raw: bytes


@dataclass
class _Rendered:
    text: str = ""
    html: str = ""
    attachments: list[_Pending] = field(default_factory=list)
    forwarded: list[Forward] = field(default_factory=list)
    tnef_text: str = ""
    tnef_html: str = ""

    def has_body(self) -> bool:
        return bool(self.text.strip() or self.html.strip())

    def absorb(self, other: _Rendered) -> None:
        """Take the other part's files, not its body."""
        self.attachments += other.attachments
        self.forwarded += other.forwarded
        self.tnef_text = self.tnef_text or other.tnef_text
        self.tnef_html = self.tnef_html or other.tnef_html


@dataclass(frozen=True)
class Body:
    text: str
    html: str
    attachments: tuple[MailAttachment, ...]
    forwarded: tuple[Forward, ...]
    defects: tuple[str, ...]
    left_out: LeftOut = NOTHING_LEFT_OUT


class _Walker:
    def __init__(self, hints: tuple[str, ...], aside: SetAside, limits: AttachmentLimits) -> None:
        self.hints = hints
        self.aside = aside
        self.defects: list[str] = []
        self.allowance = Allowance(limits)

    def defect(self, text: str, path: str) -> None:
        self.defects.append(f"{text} in part {path or '1'}")

    def walk(self, part: Message, path: str, depth: int, mode: str) -> _Rendered:
        for defect in parser_defects(part):
            self.defect(defect, path)
        if depth > MAX_DEPTH:
            self.defect(f"MIME nesting deeper than {MAX_DEPTH}; skipped", path)
            return _Rendered()
        payload = part.get_payload()
        if isinstance(payload, list):
            children = [child for child in payload if isinstance(child, Message)]
            if part.get_content_maintype() == "multipart":
                return self.container(part, children, path, depth)
            return self.message(part, children, path)
        info = part_info(part, self.hints)
        return self.leaf(part, info, path or "1", mode)

    def container(self, part: Message, children: list[Message], path: str, depth: int) -> _Rendered:
        paths = [f"{path}.{n}" if path else str(n) for n in range(1, len(children) + 1)]
        subtype = part.get_content_subtype()
        if subtype == "alternative":
            return self.alternative(children, paths, depth)
        if subtype == "related":
            start = part_info(part, self.hints).params.get("start", "")
            return self.related(children, paths, depth, start.strip().strip("<>"))
        # mixed, signed, report, digest, parallel and unknown subtypes (RFC 2046 §5.1.3, §5.1.7).
        result = _Rendered()
        pieces: list[_Rendered] = []
        for child, child_path in zip(children, paths, strict=True):
            rendered = self.walk(child, child_path, depth + 1, "mixed")
            result.absorb(rendered)
            if rendered.has_body():
                pieces.append(rendered)
        texts = [piece.text for piece in pieces if piece.text.strip()]
        result.text = texts[0] if len(texts) == 1 else "\n".join(_line(text) for text in texts)
        if any(piece.html.strip() for piece in pieces):
            htmls = [
                piece.html if piece.html.strip() else text_to_html(piece.text) for piece in pieces
            ]
            result.html = htmls[0] if len(htmls) == 1 else "\n".join(htmls)
        return result

    def alternative(self, children: list[Message], paths: list[str], depth: int) -> _Rendered:
        """RFC 2046 §5.1.4: alternatives in increasing faithfulness; the last HTML one is the
        richest, the first non-empty plain one is the text."""
        rendered = [
            self.walk(child, child_path, depth + 1, "alternative")
            for child, child_path in zip(children, paths, strict=True)
        ]
        html_choice = next((r for r in reversed(rendered) if r.html.strip()), None)
        text_choice = next((r for r in rendered if r.text.strip()), None)
        silent = None
        if html_choice is not None and text_choice is not None and says_nothing(html_choice.html):
            # The richer alternative wins: Apple Mail sends "<br>" as the HTML of a message
            # with attachments, the words being in the text part only.
            silent, html_choice = html_choice, None
        result = _Rendered(
            text=text_choice.text if text_choice else "",
            html=html_choice.html if html_choice else "",
        )
        for candidate in rendered:
            chosen = any(candidate is choice for choice in (text_choice, html_choice, silent))
            if chosen or not candidate.has_body():  # e.g. a text/calendar invitation
                result.absorb(candidate)
        return result

    def related(
        self, children: list[Message], paths: list[str], depth: int, start: str
    ) -> _Rendered:
        """RFC 2387: the root (named by `start`, else the first part) is the body; the other
        parts are what it references, files even when they are text/html."""
        root = 0
        for index, child in enumerate(children):
            if start and part_info(child, self.hints).content_id == start:
                root = index
        if not children:
            return _Rendered()
        result = self.walk(children[root], paths[root], depth + 1, "related")
        for index, child in enumerate(children):
            if index != root:
                result.absorb(self.walk(child, paths[index], depth + 1, "attachment"))
        return result

    def message(self, part: Message, children: list[Message], path: str) -> _Rendered:
        info = part_info(part, self.hints)
        if info.content_type in FORWARDED_TYPES and children:
            embedded = children[0]
            raw = self.aside.restore_bytes(serialize(embedded))
            raw = b"" if raw.isspace() else raw  # isspace, not strip: no copy of a large message
            if info.transfer_encoding in BASE64 | QUOTED_PRINTABLE:
                # The stdlib parsed the encoded text as a message; undo that, decode, reparse.
                raw = decode_transfer(raw.lstrip(b"\n"), info.transfer_encoding)[0]
                forward = Forward(None, raw)
            else:
                forward = Forward(embedded if isinstance(embedded, EmailMessage) else None, raw)
            subjects = [str(v) for k, v in embedded.raw_items() if k.lower() == "subject"]
            subject = decode_header(subjects[0], self.hints)[0] if subjects else ""
            return self.forwarded(info, info.content_type, raw, forward, subject)
        # delivery-status (RFC 3464), disposition-notification (RFC 8098), feedback-report:
        # header blocks the stdlib parsed as messages; kept as the text they were.
        for child in children:
            for defect in parser_defects(child):
                self.defect(defect, path)
        content = b"".join(self.aside.restore_bytes(serialize(child)) for child in children)
        if content.endswith(b"\n\n"):  # the last block's blank line is the delimiter's
            content = content[:-1]
        return _Rendered(attachments=self.pending(info, info.content_type, content))

    def leaf(self, part: Message, info: PartInfo, path: str, mode: str) -> _Rendered:
        data = self.decoded(part, info, path)
        content_type = info.content_type
        if is_tnef(content_type, info.filename):
            return self.tnef(info, data, path)
        if content_type.startswith("multipart/"):
            content_type = "text/plain"  # boundary missing: show the raw text, as clients do
        if content_type in FORWARDED_TYPES:
            return self.forwarded(info, content_type, data, Forward(None, data))
        # In multipart/mixed a named text part is a file unless the sender asked for it to be
        # shown ("inline", RFC 2183 §2.1); elsewhere text that is not an attachment is body.
        shown = mode in ("top", "alternative", "related") or (
            mode == "mixed" and (not info.filename or info.disposition == "inline")
        )
        body_text = content_type in ("text/plain", "text/html") and info.disposition != "attachment"
        if body_text and shown:
            text = self.text(data, info, path)
            if content_type == "text/html":
                return _Rendered(html=text)
            if info.params.get("format", "").lower() == "flowed" and len(text) < _UNFLOW_LIMIT:
                text = unflow(text, info.params.get("delsp", "").lower() == "yes")
            return _Rendered(text=text)
        if (
            mode == "alternative"
            and content_type.startswith("text/")
            and content_type != "text/calendar"
        ):
            return _Rendered()  # another rendering of the body (text/enriched, text/watch-html)
        return _Rendered(attachments=self.pending(info, content_type, data))

    def tnef(self, info: PartInfo, data: bytes, path: str) -> _Rendered:
        content = unpack_tnef(data, self.allowance.remaining)
        if content is None:
            self.defect("unreadable TNEF (winmail.dat) kept as is", path)
            return _Rendered(attachments=self.pending(info, info.content_type, data))
        files: list[_Pending] = []
        for given, blob in content.files:
            name, named = attachment_name(given, type_for_name(given), None)
            if self.allowance.admit(name, len(blob)):
                kind = type_for_name(name)
                files.append(_Pending(name, kind, blob, None, False, True, named))
        self.allowance.leave_out(content.more, content.more_bytes, list(content.more_listed))
        if content.unreadable:
            # What could not be unpacked is still in the winmail.dat: keep that too.
            self.defect(f"{content.unreadable} unreadable file(s) in TNEF (winmail.dat)", path)
            files += self.pending(info, info.content_type, data)
        return _Rendered(attachments=files, tnef_text=content.text, tnef_html=content.html)

    def pending(
        self, info: PartInfo, content_type: str, data: bytes, subject: str = ""
    ) -> list[_Pending]:
        """The part as a file, or nothing when it is over the attachment limits."""
        name, named = attachment_name(
            info.filename, content_type, info.content_id, subject, info.description
        )
        if not self.allowance.admit(name, len(data)):
            return []
        inline = info.disposition == "inline"
        return [_Pending(name, content_type, data, info.content_id, inline, named=named)]

    def forwarded(
        self, info: PartInfo, content_type: str, data: bytes, forward: Forward, subject: str = ""
    ) -> _Rendered:
        """An embedded message: a file, and parsed (`Forward`) only when the file is kept."""
        files = self.pending(info, content_type, data, subject)
        return _Rendered(attachments=files, forwarded=[forward] if files else [])

    def decoded(self, part: Message, info: PartInfo, path: str) -> bytes:
        # The stored payload, not get_payload(): that decodes 8-bit bytes with the declared
        # charset ("replace"), losing exactly the bytes a wrong declaration needs.
        payload = getattr(part, "_payload", None)
        data: bytes | memoryview = b""
        if isinstance(payload, str) and info.transfer_encoding in BASE64:
            data = self.aside.base64_source(payload)
        elif isinstance(payload, str):
            data = self.aside.restore(payload)
        if info.transfer_encoding not in _KNOWN_ENCODINGS:
            self.defect(f"unknown transfer encoding {info.transfer_encoding!r}", path)
        binary = not info.content_type.startswith(("text/", "multipart/", "message/"))
        decoded, clean = decode_transfer(data, info.transfer_encoding, binary)
        if not clean:
            self.defect(f"invalid {info.transfer_encoding}", path)
        return decoded

    def text(self, data: bytes, info: PartInfo, path: str) -> str:
        label = info.params.get("charset")
        if not label and info.content_type == "text/html":
            meta = _META_CHARSET.search(data[:4096])
            label = meta.group(1).decode("ascii") if meta else None
        text, defect = decode_text(data, label, self.hints)
        if defect:
            self.defect(defect, path)
        return text.replace("\r\n", "\n").replace("\r", "\n")


def _line(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def referenced_cids(html: str) -> set[str]:
    """Content-IDs the HTML points at (`cid:` URLs, RFC 2392, may be %-encoded)."""
    return {unquote(match).lower() for match in _CID_REFERENCE.findall(html)}


def render(
    message: Message,
    hints: tuple[str, ...],
    aside: SetAside = NOTHING_SET_ASIDE,
    limits: AttachmentLimits = DEFAULT_LIMITS,
) -> Body:
    """The body, files and forwarded messages of a parsed message; `aside` holds the line runs
    set aside from it before parsing. Files past `limits` are only counted (`Body.left_out`)."""
    walker = _Walker(hints, aside, limits)
    rendered = walker.walk(message, "", 0, "top")
    text, html = rendered.text, rendered.html
    if not rendered.has_body():  # Outlook "Rich Text" mail: the body is inside winmail.dat
        text = rendered.tnef_text.replace("\r\n", "\n").replace("\r", "\n")
        html = rendered.tnef_html.replace("\r\n", "\n").replace("\r", "\n")
    cids = referenced_cids(html) if "cid:" in html.lower() else set()
    taken = {pending.filename for pending in rendered.attachments if pending.named}
    counters: dict[str, int] = {}
    attachments: list[MailAttachment] = []
    for pending in rendered.attachments:
        filename = pending.filename
        if not pending.named:
            filename = numbered(filename, taken, counters)
            taken.add(filename)
        attachments.append(
            MailAttachment(
                filename=filename,
                content_type=pending.content_type,
                content=pending.content,
                size=len(pending.content),
                sha256=hashlib.sha256(pending.content).hexdigest(),
                content_id=pending.content_id,
                inline=pending.inline or (pending.content_id or "").lower() in cids,
                from_tnef=pending.from_tnef,
            )
        )
    return Body(
        text,
        html,
        tuple(attachments),
        tuple(rendered.forwarded),
        tuple(walker.defects),
        walker.allowance.left_out(),
    )
