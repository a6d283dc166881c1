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

from dataclasses import dataclass
from typing import Any

from connector.jira.adf import FittedDocument, fit_to_limit, html_to_adf, text_to_adf
from connector.mail.classify import Classification, classify
from connector.mail.html_text import html_to_text
from connector.mail.inbound import InboundEmail
from connector.mail.message import parse_email
from connector.mail.reply import extract_reply_html, extract_reply_text

FULL_TEXT_FILENAME = "full-message.txt"


@dataclass(frozen=True)
class Rendering:
    """One body rendered for Jira: the plain text, and the ADF fitted to the field limit."""

    text: str
    fitted: FittedDocument
    quote_found: bool = False
    signature_found: bool = False

    @property
    def document(self) -> dict[str, Any]:
        return self.fitted.document


@dataclass(frozen=True)
class Understanding:
    email: InboundEmail
    classification: Classification
    description: Rendering
    reply: Rendering


def understand(raw: bytes, *, loop_header_value: str | None = None) -> Understanding:
    """Raises `UnparseableEmail` only for bytes that are not an email at all."""
    email = parse_email(raw)
    return Understanding(
        email=email,
        classification=classify(email, loop_header_value=loop_header_value),
        description=render_description(email),
        reply=render_reply(email),
    )


def _inline_images(email: InboundEmail) -> dict[str, str]:
    return {a.content_id: a.filename for a in email.attachments if a.content_id}


def render_description(email: InboundEmail) -> Rendering:
    if email.html_body.strip():
        document = html_to_adf(email.html_body, inline_images=_inline_images(email))
        text = email.text_body or html_to_text(email.html_body)
    else:
        document = text_to_adf(email.text_body)
        text = email.text_body
    return Rendering(text=text, fitted=fit_to_limit(document, filename=FULL_TEXT_FILENAME))


def render_reply(email: InboundEmail) -> Rendering:
    if email.html_body.strip():
        html_reply = extract_reply_html(email.html_body)
        document = html_to_adf(html_reply.html, inline_images=_inline_images(email))
        return Rendering(
            text=html_to_text(html_reply.html),
            fitted=fit_to_limit(document, filename=FULL_TEXT_FILENAME),
            quote_found=html_reply.quote_found,
            signature_found=html_reply.signature_found,
        )
    text_reply = extract_reply_text(email.text_body)
    return Rendering(
        text=text_reply.text,
        fitted=fit_to_limit(text_to_adf(text_reply.text), filename=FULL_TEXT_FILENAME),
        quote_found=text_reply.quote_found,
        signature_found=text_reply.signature_found,
    )
