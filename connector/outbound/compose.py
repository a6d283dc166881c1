"""One outgoing mail, built so that its answer comes back to the same issue and never loops.

- `Message-ID` is ours (`new_message_id`) and is remembered with the issue before sending, so a
  reply naming it in In-Reply-To/References threads onto the issue (RFC 5322 §3.6.4).
- `In-Reply-To` names the latest mail of the thread we know, `References` the first and the
  latest few, so the customer's mail program shows one conversation.
- `Reply-To` is the mailbox the issue's mail came in through, which we poll.
- `Auto-Submitted: auto-generated` (RFC 3834 §5) asks auto-responders not to answer, and
  `X-Auto-Response-Suppress: All` asks Exchange the same; our loop header lets our own
  classifier drop the mail should it ever come back (`connector.mail.classify.LOOP_HEADER`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from connector.mail.classify import LOOP_HEADER
from connector.outbound.templates import Rendered
from connector.storage.times import utc_now

MAX_REFERENCES = 10


def loop_header_value(app_key: str, client_key: str) -> str:
    """This installation's and tenant's value of the loop header: the classifier drops mail
    carrying exactly it and only notes another tenant's, so two tenants may talk by mail."""
    digest = hashlib.sha256(f"{app_key}\x00{client_key}".encode()).hexdigest()
    return f"{app_key}; {digest[:24]}"


def new_message_id(domain: str, issue_key: str | None = None) -> str:
    """`<mc.<issue>.<random>@domain>`: unique, and readable in a support engineer's headers."""
    label = (issue_key or "mail").lower().replace("<", "").replace(">", "")
    return f"<mc.{label}.{secrets.token_hex(12)}@{domain or 'mail-connector.invalid'}>"


def address_domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()


@dataclass(frozen=True)
class Envelope:
    from_address: str
    to_address: str
    from_name: str = ""
    to_name: str = ""
    reply_to: str = ""


def thread_headers(thread_ids: Sequence[str]) -> tuple[str | None, str | None]:
    """(In-Reply-To, References) for a thread given oldest first."""
    # The email log keeps ids without angle brackets; headers need them (RFC 5322 msg-id).
    bare = (i.strip().strip("<>").strip() for i in thread_ids)
    ids = [f"<{mid}>" for mid in dict.fromkeys(bare) if mid and not any(c.isspace() for c in mid)]
    if not ids:
        return None, None
    kept = ids if len(ids) <= MAX_REFERENCES else [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids[-1], " ".join(kept)


def compose(
    envelope: Envelope,
    rendered: Rendered,
    *,
    message_id: str,
    thread_ids: Sequence[str] = (),
    loop_value: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = _address(envelope.from_name, envelope.from_address)
    message["To"] = _address(envelope.to_name, envelope.to_address)
    if envelope.reply_to:
        message["Reply-To"] = envelope.reply_to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(utc_now())
    message["Message-ID"] = message_id
    in_reply_to, references = thread_headers(thread_ids)
    if in_reply_to and references:
        message["In-Reply-To"] = in_reply_to
        message["References"] = references
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message[LOOP_HEADER] = loop_value
    message.set_content(rendered.text)
    message.add_alternative(_html_document(rendered.html), subtype="html")
    return message


def _address(name: str, address: str) -> Address | str:
    local, _, domain = address.partition("@")
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError):
        return address


def _html_document(body: str) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        f'<body style="font-family:sans-serif">{body}</body></html>\n'
    )
