"""Reply extraction: what the sender wrote, without the quoted history and the signature.

A reply threaded onto a Jira issue becomes a comment (DESIGN.md, "Replies"); pasting the whole
history into every comment is the clutter users of other mail connectors complain about most.

- `extract_reply_text(text) -> ReplyText` for text/plain bodies;
- `extract_reply_html(html) -> ReplyHtml` for text/html bodies (`connector.mail.reply_html`).

Both feed the same planner (`connector.mail.reply_plan`, whose docstring lists the rules), so
a rule learnt from one format serves the other. Pure: strings in, frozen values out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connector.mail.quotes import is_quoted, pipe_quoted
from connector.mail.reply_html import ReplyHtml, extract_reply_html
from connector.mail.reply_plan import MAX_PLANNED_LINES, plan_reply
from connector.mail.reply_scan import Line

__all__ = ["ReplyHtml", "ReplyText", "extract_reply_html", "extract_reply_text"]


@dataclass(frozen=True)
class ReplyText:
    """The new text of a plain-text reply.

    `text`: what the sender wrote, trailing blank lines removed.
    `quote_found`: quoted history was detected. `signature_found`: a signature was detected.
    `kept_whole`: removing them would have left nothing, so `text` is the whole message (the
    flags still say what was detected). `forward_kept`: the message is a forward (nothing or
    a short note above the forwarded mail), kept whole because the forwarded mail is the
    content; the other flags are then False.
    """

    text: str
    quote_found: bool
    signature_found: bool
    kept_whole: bool
    forward_kept: bool


def extract_reply_text(text: str) -> ReplyText:
    """The new text of a plain-text reply; see the module docstring for the rules."""
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    head, rest = raw_lines[:MAX_PLANNED_LINES], raw_lines[MAX_PLANNED_LINES:]
    piped = pipe_quoted(head)
    lines = [
        Line(line, "marker" if is_quoted(line) or index in piped else None)
        for index, line in enumerate(head)
    ]
    plan = plan_reply(lines, more_below=any(map(str.strip, rest)))
    kept: list[str] = []
    dropped_since_text = previous_blank = False
    for line, keep in zip(head, plan.keep, strict=True):
        if keep == 0:
            dropped_since_text = True
            continue
        text = line if keep is None else line[:keep].rstrip()
        blank = not text.strip()
        if blank and previous_blank and dropped_since_text:
            continue  # the blank lines around a removed quote would otherwise pile up
        kept.append(text)
        previous_blank = blank
        if not blank:
            dropped_since_text = False
    if plan.cut_line is None:
        kept.extend(rest)
    return ReplyText(
        text=_trim_blank_lines("\n".join(kept)),
        quote_found=plan.quote_found,
        signature_found=plan.signature_found,
        kept_whole=plan.kept_whole,
        forward_kept=plan.forward_kept,
    )


_LEADING_BLANK_LINES_RE = re.compile(r"\A(?:[ \t\f\v\xa0]*\n)+")


def _trim_blank_lines(text: str) -> str:
    return _LEADING_BLANK_LINES_RE.sub("", text).rstrip()
