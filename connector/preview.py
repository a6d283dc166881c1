"""`connector preview FILE.eml`: what a message becomes, printed, with no side effects.

With a source (`--source ID`, or the admin API's route check) it also says where the message
would go: the filters, the address route (which header and rule) and the thread, decided by
the pipeline's own `decide()`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from connector.mail.inbound import Address, InboundEmail
from connector.mail_source import SourceSpec
from connector.pipeline.decide import (
    Case,
    Create,
    Drop,
    Duplicate,
    Facts,
    LookUp,
    Quarantine,
    Thread,
    classification_step,
    decide,
)
from connector.pipeline.routes import resolve_route
from connector.pipeline.understanding import Rendering, Understanding
from connector.routing.addresses import recipients
from connector.routing.match import match_thread
from connector.senders.outcome import SenderAuthentication


def _address(address: Address | None) -> dict[str, str] | None:
    return None if address is None else {"address": address.address, "name": address.name}


def _rendering(rendering: Rendering) -> dict[str, Any]:
    return {
        "text": rendering.text,
        "quote_found": rendering.quote_found,
        "signature_found": rendering.signature_found,
        "truncated": rendering.fitted.truncated,
        "adf": rendering.document,
    }


def _email(email: InboundEmail) -> dict[str, Any]:
    return {
        "sender": _address(email.sender),
        "reply_to": [_address(a) for a in email.reply_to],
        "to": [_address(a) for a in email.to],
        "cc": [_address(a) for a in email.cc],
        "subject": email.subject,
        "date": email.date.isoformat() if email.date else None,
        "message_id": email.message_id,
        "in_reply_to": list(email.in_reply_to),
        "references": list(email.references),
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "content_id": a.content_id,
                "inline": a.inline,
                "from_tnef": a.from_tnef,
            }
            for a in email.attachments
        ],
        "forwarded": [
            {"subject": f.subject, "sender": _address(f.sender)} for f in email.forwarded
        ],
        "defects": list(email.defects),
        "size": email.size,
        "list": _address(email.list_address) if email.list_address else None,
        "sender_note": email.sender_note or None,
    }


def sender_dict(auth: SenderAuthentication) -> dict[str, Any]:
    """The sender check (issue 15) as `--json` and the route check give it."""
    return {
        "verified": auth.verified,
        "domain": auth.domain,
        "method": str(auth.method) if auth.method else None,
        "reason": auth.reason.code if auth.reason else None,
        "summary": auth.summary,
    }


def preview_dict(
    understanding: Understanding, sender_auth: SenderAuthentication | None = None
) -> dict[str, Any]:
    classification = understanding.classification
    checked = {"sender_verification": sender_dict(sender_auth)} if sender_auth else {}
    return {
        **_email(understanding.email),
        **checked,
        "classification": {
            "kind": str(classification.kind),
            "reason": classification.reason,
        },
        "reply": _rendering(understanding.reply),
        "description": _rendering(understanding.description),
    }


def format_preview(
    understanding: Understanding, sender_auth: SenderAuthentication | None = None
) -> str:
    data = preview_dict(understanding)
    sender = understanding.email.sender
    lines = [
        f"From:           {sender if sender else '(none)'}",
        *([f"Via list:       {data['sender_note']}"] if data["sender_note"] else []),
        *([f"Sender:         {sender_auth.summary}"] if sender_auth else []),
        f"Subject:        {data['subject']}",
        f"Date:           {data['date'] or '(none)'}",
        f"Message-ID:     {data['message_id'] or '(none)'}",
        f"Classification: {data['classification']['kind']} ({data['classification']['reason']})",
    ]
    if data["in_reply_to"] or data["references"]:
        lines.append(f"Thread:         {', '.join(data['in_reply_to'] or data['references'])}")
    for defect in data["defects"]:
        lines.append(f"Defect:         {defect}")
    lines.append("")
    lines.append("Attachments:")
    if not data["attachments"]:
        lines.append("  (none)")
    for item in data["attachments"]:
        flags = ", ".join(
            flag
            for flag, present in (("inline", item["inline"]), ("from TNEF", item["from_tnef"]))
            if present
        )
        cid = f" cid:{item['content_id']}" if item["content_id"] else ""
        suffix = f" [{flags}]" if flags else ""
        lines.append(
            f"  {item['filename']} ({item['content_type']}, {item['size']} bytes){cid}{suffix}"
        )
    for title, key in (("Reply text (for a comment)", "reply"), ("Description", "description")):
        rendering = data[key]
        notes = [
            note
            for note, present in (
                ("quote removed", rendering["quote_found"]),
                ("signature removed", rendering["signature_found"]),
                ("truncated to Jira's limit, full text attached", rendering["truncated"]),
            )
            if present
        ]
        lines += ["", f"{title}{' (' + ', '.join(notes) + ')' if notes else ''}:"]
        lines += ["  " + line for line in (rendering["text"] or "(empty)").splitlines()]
    lines += ["", "Description as ADF:", json.dumps(data["description"]["adf"], indent=2)]
    return "\n".join(lines)


PreviewOutcome = Literal["create", "comment", "ignored", "quarantine"]


def routing_dict(
    understanding: Understanding,
    spec: SourceSpec,
    facts: Facts,
    sender_auth: SenderAuthentication | None = None,
) -> dict[str, Any]:
    """What the pipeline would decide for this message and source (`decide()`, the same
    function), from the facts the caller could look up: a preview asks neither Jira nor the
    email log, so whether an issue still exists and the per-sender rate limit are left out.
    With `sender_auth`, it also says whether the sender's account would speak for it.
    """
    email = understanding.email
    route = resolve_route(spec, email.headers)
    decision = decide(Case(understanding, route, spec, sender_auth=sender_auth), facts)
    outcome: PreviewOutcome
    issue_key: str | None = None
    match decision:
        case Drop():
            outcome = "ignored"
        case Quarantine():
            outcome = "quarantine"
        case Thread(issue_key=issue_key):
            outcome = "comment"
        case Create():
            outcome = "create"
        case Duplicate() | LookUp():
            raise ValueError(f"a preview decides without looking up earlier issues: {decision}")
    thread = match_thread(email, projects=route.subject_projects, known=facts.known)
    trail = [
        classification_step(understanding.classification),
        *route.trail(),
        *([sender_auth.summary] if sender_auth else []),
        *decision.steps,
        decision.reason,
    ]
    return {
        "outcome": outcome,
        "reason": decision.reason,
        "issue_key": issue_key,
        "route": route.to_json(),
        "thread": None
        if thread is None
        else {"issue_key": thread.issue_key, "via": thread.via, "detail": thread.detail},
        "recipients": [
            {"address": r.address, "header": r.header} for r in recipients(email.headers)
        ],
        "trail": trail,
        **({} if sender_auth is None else {"sender": _attribution(sender_auth, decision)}),
    }


def _attribution(auth: SenderAuthentication, decision: object) -> dict[str, Any]:
    as_account = isinstance(decision, Thread | Create) and decision.as_account
    return {**sender_dict(auth), "as_account": as_account}


def format_routing(routing: Mapping[str, Any]) -> str:
    lines = ["Routing:"]
    for recipient in routing["recipients"] or [{"header": "(none)", "address": ""}]:
        lines.append(f"  {recipient['header'] + ':':<15} {recipient['address']}")
    lines += ["", "Decision trail:"]
    lines += [f"  {step}" for step in routing["trail"]]
    if "sender" in routing:
        who = "the sender's account" if routing["sender"]["as_account"] else "the app"
        lines += ["", f"Written by:     {who}"]
    lines += ["", f"Outcome:        {routing['outcome']} ({routing['reason']})"]
    return "\n".join(lines)
