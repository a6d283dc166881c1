"""`connector preview FILE.eml`: what a message becomes, with no side effects, as data (the
`--json` output; `connector.preview_text` prints it for a terminal).

With a source (`--source ID`, or the admin API's route check) it also says where the message
would go: the filters, the address route (which header and rule) and the thread, decided by
the pipeline's own `decide()`.
"""

from __future__ import annotations

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
