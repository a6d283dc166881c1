"""What a message becomes, before any decision about Jira: parse, classify, extract, render.

Pure (no IO): `connector preview` prints it, and the pipeline builds issue and comment drafts
from it. Two renderings are made because Jira needs two:
- `description`: the whole body, for a new issue. A first mail often carries a thread that
  started outside Jira; cutting it would lose what the agent needs.
- `reply`: only what the sender wrote (quoted history and signature removed), for a comment
  on an issue that already holds the history.
HTML is preferred to plain text when the message has it (it carries tables, lists and inline
images); it is sanitised inside `html_to_adf`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from email.message import EmailMessage
from functools import cached_property
from typing import Any

from connector.jira.adf import (
    AUTHOR_LINE_ROOM,
    JIRA_TEXT_LIMIT,
    FittedDocument,
    adf_to_text,
    fit_to_limit,
    html_to_adf,
    serialized_length,
    text_to_adf,
)
from connector.jira.adf_nodes import AdfNode, doc, paragraph, text_node
from connector.mail.classify import Classification, classify
from connector.mail.html import says_nothing
from connector.mail.inbound import InboundEmail, LeftOut
from connector.mail.limits import DEFAULT_LIMITS, ORIGINAL_FILENAME, AttachmentLimits
from connector.mail.message import parse_email
from connector.mail.reply import extract_reply_html, extract_reply_text

FULL_TEXT_FILENAME = "full-message.txt"
# Ten times Jira's field limit: more than enough to fill the field after quotes are cut.
MAX_RENDERED_CHARS = 330_000
# A comment, and the description of an issue the app reports, start with lines naming the
# sender and Cc (`connector.mail_fields.with_author_line`, which keeps them within
# AUTHOR_LINE_ROOM): both texts leave room for them so the whole field stays within Jira's limit.
BODY_LIMIT = JIRA_TEXT_LIMIT - AUTHOR_LINE_ROOM
REPLY_LIMIT = BODY_LIMIT


@dataclass(frozen=True)
class Rendering:
    """One body rendered for Jira: the ADF fitted to the field limit, and its plain text."""

    fitted: FittedDocument
    quote_found: bool = False
    signature_found: bool = False

    @property
    def document(self) -> dict[str, Any]:
        return self.fitted.document

    @cached_property
    def text(self) -> str:
        """Plain text of what Jira will show (read back from the ADF, so the two agree).

        Only previews and logs need it, so it is computed on first use.
        """
        return adf_to_text(self.fitted.document)


# Defects that record a guess about the text (a charset detected where none was declared or
# the declared one did not fit): the trail says so, as the text shown may be the guess's.
_GUESS_MARKS = ("detected ", "decoded as ", "read as ")


@dataclass(frozen=True)
class Understanding:
    email: InboundEmail
    classification: Classification
    description: Rendering
    reply: Rendering

    @property
    def notes(self) -> tuple[str, ...]:
        """Trail lines on how the message was read: guesses made while decoding it, and the
        author found behind a mailing list's rewritten From."""
        guesses = [
            f"read with a guess: {defect}"
            for defect in self.email.defects
            if any(mark in defect for mark in _GUESS_MARKS)
        ]
        return (*guesses, *((self.email.sender_note,) if self.email.sender_note else ()))


def understand(
    raw: bytes,
    *,
    loop_header_value: str | None = None,
    limits: AttachmentLimits = DEFAULT_LIMITS,
) -> Understanding:
    """Raises `UnparseableEmail` only for bytes that are not an email at all."""
    email = parse_email(raw, limits)
    description = render_description(email)
    return Understanding(
        email=email,
        classification=classify(email, loop_header_value=loop_header_value),
        description=description,
        reply=render_reply(email, description=description),
    )


def _inline_images(email: InboundEmail) -> dict[str, str]:
    return {a.content_id: a.filename for a in email.attachments if a.content_id}


def shows_html(email: InboundEmail) -> bool:
    """Whether the body is rendered from the HTML part. Never an empty description while the
    text part has words: HTML that shows nothing (a "<br>" beside a text part, wherever it
    sat in the MIME tree) gives way to the text."""
    return bool(email.html_body.strip()) and not (
        email.text_body.strip() and says_nothing(email.html_body)
    )


@dataclass(frozen=True)
class _Body:
    """The body to render: HTML when the message has it, else text; cut when huge."""

    is_html: bool
    content: str
    cut: bool

    @classmethod
    def of(cls, email: InboundEmail) -> _Body:
        is_html = shows_html(email)
        content = email.html_body if is_html else email.text_body
        if len(content) <= MAX_RENDERED_CHARS:
            return cls(is_html, content, cut=False)
        # Jira shows at most 32,767 characters; rendering megabytes to throw them away would
        # let one huge mail hold up the mailbox (ADF and reply extraction grow with the text).
        end = content.rfind(">" if is_html else "\n", 0, MAX_RENDERED_CHARS)
        return cls(is_html, content[: end + 1 if end > 0 else MAX_RENDERED_CHARS], cut=True)


def _fitted(
    email: InboundEmail, body: _Body, content: str, *, max_chars: int = BODY_LIMIT
) -> FittedDocument:
    if body.is_html:
        document = html_to_adf(content, inline_images=_inline_images(email))
    else:
        document = text_to_adf(content)
    note = left_out_note(email.left_out)
    # The note's room is kept free, so a body cut to fit still ends with it.
    room = max_chars - serialized_length(doc(note)) if note else max_chars
    fitted = fit_to_limit(document, max_chars=room, filename=FULL_TEXT_FILENAME)
    if note:
        content_with_note = [*fitted.document["content"], *note]
        fitted = replace(fitted, document=doc(content_with_note))
    if body.cut:
        # What was not rendered still reaches Jira whole, as the attached full text.
        full = email.text_body or email.html_body
        return FittedDocument(fitted.document, truncated=True, full_text=full)
    return fitted


def left_out_note(left_out: LeftOut) -> list[AdfNode]:
    """What the description or comment says about files over the attachment limits: how
    many, the first few by name and size, and where they all are ([] when none)."""
    if not left_out.count:
        return []
    files = "attachment was" if left_out.count == 1 else "attachments were"
    lead = (
        f"{left_out.count:,} more {files} not added one by one "
        f"({_size(left_out.total_bytes)}); the whole message is attached as "
        f"{ORIGINAL_FILENAME} and holds them all."
    )
    blocks = [paragraph([text_node(lead, [{"type": "em"}])])]
    items = [
        {
            "type": "listItem",
            "content": [paragraph([text_node(f"{name} ({_size(size)})")])],
        }
        for name, size in left_out.listed
    ]
    if items:
        blocks.append({"type": "bulletList", "content": items})
    unnamed = left_out.count - len(left_out.listed)
    if items and unnamed > 0:
        blocks.append(paragraph([text_node(f"... and {unnamed:,} more.")]))
    return blocks


def _size(size: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def render_description(email: InboundEmail) -> Rendering:
    body = _Body.of(email)
    return Rendering(fitted=_fitted(email, body, body.content, max_chars=REPLY_LIMIT))


def render_reply(email: InboundEmail, *, description: Rendering | None = None) -> Rendering:
    """The reply part; `description` (the whole body, already rendered) is reused when
    extraction removes nothing, as for most first messages."""
    body = _Body.of(email)
    if body.is_html:
        html_reply = extract_reply_html(body.content)
        reply, flags = html_reply.html, (html_reply.quote_found, html_reply.signature_found)
    else:
        text_reply = extract_reply_text(body.content)
        reply, flags = text_reply.text, (text_reply.quote_found, text_reply.signature_found)
    reusable = (
        description is not None
        and reply == body.content
        and serialized_length(description.fitted.document) <= REPLY_LIMIT
    )
    if reusable and description is not None:
        fitted = description.fitted
    else:
        fitted = _fitted(email, body, reply, max_chars=REPLY_LIMIT)
    return Rendering(fitted=fitted, quote_found=flags[0], signature_found=flags[1])


# --- in a worker process (connector.pipeline.reading) ------------------------------------

# How much of a message's start is read for its headers where the whole is not parsed (the
# stand-in for a message over budget, the poll's ordering keys): RFC 5322 puts no limit on a
# header block, but 64 KiB holds any real one.
HEADER_BLOCK_BYTES = 64 * 1024


def understand_detached(
    raw: bytes,
    loop_header_value: str | None = None,
    limits: AttachmentLimits = DEFAULT_LIMITS,
) -> Understanding:
    """`understand`, then without the MIME tree, for crossing a process boundary.

    The tree was only needed for classification, which is done here; pickling it costs about
    12 ms a message where the rest costs 0.2 ms.
    """
    return detach(understand(raw, loop_header_value=loop_header_value, limits=limits))


def understand_headers(
    head: bytes, note: str, loop_header_value: str | None = None
) -> Understanding:
    """What is left of a message that could not be read within its budget: its header block
    (from the first `HEADER_BLOCK_BYTES` of it) and `note` as the body."""
    head = head[:HEADER_BLOCK_BYTES]
    end = min((i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0), default=-1)
    headers = head[:end] if end >= 0 else head[: head.rfind(b"\n") + 1]
    # Only plain header fields: the message's own Content-* would describe a body not here.
    kept = b"\n".join(
        line
        for line in _unfolded(headers)
        if not line.lower().startswith((b"content-", b"mime-version"))
    )
    body = note.encode("utf-8")
    message = (
        kept
        + b"\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8"
        + b"\nContent-Transfer-Encoding: 8bit\n\n"
        + body
        + b"\n"
    )
    return understand_detached(message, loop_header_value)


def _unfolded(headers: bytes) -> list[bytes]:
    """Header fields, each with its continuation lines (RFC 5322 §2.2.3)."""
    fields: list[bytes] = []
    for line in headers.splitlines():
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line
        elif b":" in line:
            fields.append(line)
    return fields


def detach(understanding: Understanding) -> Understanding:
    return replace(understanding, email=_without_tree(understanding.email))


def _without_tree(email: InboundEmail) -> InboundEmail:
    return replace(
        email,
        message=EmailMessage(),
        forwarded=tuple(_without_tree(inner) for inner in email.forwarded),
    )
