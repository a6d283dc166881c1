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
from functools import cached_property
from typing import Any

from connector.jira.adf import FittedDocument, adf_to_text, fit_to_limit, html_to_adf, text_to_adf
from connector.mail.classify import Classification, classify
from connector.mail.inbound import InboundEmail
from connector.mail.message import parse_email
from connector.mail.reply import extract_reply_html, extract_reply_text

FULL_TEXT_FILENAME = "full-message.txt"


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


@dataclass(frozen=True)
class Understanding:
    email: InboundEmail
    classification: Classification
    description: Rendering
    reply: Rendering


def understand(raw: bytes, *, loop_header_value: str | None = None) -> Understanding:
    """Raises `UnparseableEmail` only for bytes that are not an email at all."""
    email = parse_email(raw)
    description = render_description(email)
    return Understanding(
        email=email,
        classification=classify(email, loop_header_value=loop_header_value),
        description=description,
        reply=render_reply(email, description=description),
    )


def _inline_images(email: InboundEmail) -> dict[str, str]:
    return {a.content_id: a.filename for a in email.attachments if a.content_id}


def render_description(email: InboundEmail) -> Rendering:
    if email.html_body.strip():
        document = html_to_adf(email.html_body, inline_images=_inline_images(email))
    else:
        document = text_to_adf(email.text_body)
    return Rendering(fitted=fit_to_limit(document, filename=FULL_TEXT_FILENAME))


def render_reply(email: InboundEmail, *, description: Rendering | None = None) -> Rendering:
    """The reply part; `description` (the whole body, already rendered) is reused when
    extraction removes nothing, as for most first messages."""
    is_html = bool(email.html_body.strip())
    if is_html:
        html_reply = extract_reply_html(email.html_body)
        original, body = email.html_body, html_reply.html
        flags = (html_reply.quote_found, html_reply.signature_found)
    else:
        text_reply = extract_reply_text(email.text_body)
        original, body = email.text_body, text_reply.text
        flags = (text_reply.quote_found, text_reply.signature_found)
    if body == original and description is not None:
        fitted = description.fitted
    else:
        document = (
            html_to_adf(body, inline_images=_inline_images(email)) if is_html else text_to_adf(body)
        )
        fitted = fit_to_limit(document, filename=FULL_TEXT_FILENAME)
    return Rendering(fitted=fitted, quote_found=flags[0], signature_found=flags[1])
