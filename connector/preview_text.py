"""`connector preview` as text for a terminal (issue 18): what happens first (outcome and
route, when a source is given), then who wrote to whom, then the text agents would read, each
once. The ADF Jira receives is printed only with `--adf`; `--json` keeps everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from connector.mail.inbound import Address
from connector.pipeline.understanding import Rendering, Understanding
from connector.senders.outcome import SenderAuthentication

_WIDTH = 16  # "Classification: " and the other labels line up after it


def _line(label: str, value: object) -> str:
    return f"{label + ':':<{_WIDTH}}{value}"


def _people(addresses: Sequence[Address]) -> str:
    return ", ".join(str(a) for a in addresses)


def format_preview(
    understanding: Understanding,
    sender_auth: SenderAuthentication | None = None,
    *,
    routing: Mapping[str, Any] | None = None,
    adf: bool = False,
) -> str:
    """The whole preview; `routing` is `connector.preview.routing_dict` with its "source"."""
    email = understanding.email
    classification = understanding.classification
    lines = (
        _decision(routing)
        if routing is not None
        else [_line("Outcome", "--source ID shows the route and what this mail becomes")]
    )
    lines.append(_line("Classification", f"{classification.kind} ({classification.reason})"))
    if sender_auth is not None:
        lines.append(_line("Sender", sender_auth.summary))
    lines += [
        "",
        _line("From", email.sender or "(none)"),
        *([_line("Via list", email.sender_note)] if email.sender_note else []),
        *([_line("Reply-To", _people(email.reply_to))] if email.reply_to else []),
        _line("To", _people(email.to) or "(none)"),
        *([_line("Cc", _people(email.cc))] if email.cc else []),
        _line("Subject", email.subject),
        _line("Date", email.date.isoformat() if email.date else "(none)"),
        _line("Message-ID", email.message_id or "(none)"),
    ]
    thread = email.in_reply_to or email.references
    if thread:
        lines.append(_line("Thread", ", ".join(thread)))
    lines += [_line("Defect", defect) for defect in email.defects]
    if routing is not None:
        lines += ["", "Recipients tried:"]
        for recipient in routing["recipients"] or [{"header": "(none)", "address": ""}]:
            lines.append("  " + _line(recipient["header"], recipient["address"]).rstrip())
        lines += ["", "Decision trail:", *[f"  {step}" for step in routing["trail"]]]
    lines += ["", *_attachments(understanding)]
    for title, rendering in _texts(understanding, routing):
        lines += ["", *_text(title, rendering)]
        if adf:
            lines += [f"{title} as ADF:", json.dumps(rendering.document, indent=2)]
    return "\n".join(lines)


def _decision(routing: Mapping[str, Any]) -> list[str]:
    route = routing["route"]
    lines = [
        _line("Outcome", f"{routing['outcome']} ({routing['reason']})"),
        _line("Route", route["reason"]),
    ]
    source = routing.get("source")
    if source is not None:
        lines.append(_line("Source", f"{source['name']} (id {source['id']})"))
    if "sender" in routing:
        who = "the sender's account" if routing["sender"]["as_account"] else "the app"
        lines.append(_line("Written by", who))
    return lines


def _attachments(understanding: Understanding) -> list[str]:
    lines = ["Attachments:"]
    attachments = understanding.email.attachments
    if not attachments:
        lines.append("  (none)")
    for item in attachments:
        flags = ", ".join(
            flag for flag, on in (("inline", item.inline), ("from TNEF", item.from_tnef)) if on
        )
        cid = f" cid:{item.content_id}" if item.content_id else ""
        suffix = f" [{flags}]" if flags else ""
        lines.append(f"  {item.filename} ({item.content_type}, {item.size} bytes){cid}{suffix}")
    return lines


def _texts(
    understanding: Understanding, routing: Mapping[str, Any] | None
) -> list[tuple[str, Rendering]]:
    """The text Jira would get: the comment or the description when the outcome says which;
    otherwise both, or one section when they are the same text."""
    reply, description = understanding.reply, understanding.description
    outcome = routing["outcome"] if routing is not None else None
    if outcome == "comment":
        return [("Comment", reply)]
    if outcome == "create":
        return [("Description", description)]
    if reply.text == description.text and reply.document == description.document:
        return [("Description or comment", description)]
    return [("Description of a new issue", description), ("Comment on its issue", reply)]


def _text(title: str, rendering: Rendering) -> list[str]:
    notes = [
        note
        for note, present in (
            ("quote removed", rendering.quote_found),
            ("signature removed", rendering.signature_found),
            ("truncated to Jira's limit, full text attached", rendering.fitted.truncated),
        )
        if present
    ]
    heading = f"{title} ({', '.join(notes)}):" if notes else f"{title}:"
    text = (rendering.text or "(empty)").splitlines()
    return [heading, *[f"  {line}" if line.strip() else "" for line in text]]
