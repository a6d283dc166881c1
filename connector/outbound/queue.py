"""Queue one mail about an issue to one person: render, compose, remember, store.

The Message-ID is remembered with the issue (origin `outbound`) before the mail is queued, so a
reply threads onto the issue even if we crash between sending and recording that it was sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from connector.outbound.compose import (
    Envelope,
    address_domain,
    compose,
    loop_header_value,
    new_message_id,
)
from connector.outbound.config import ConnectionSpec, NotificationSettings, is_address
from connector.outbound.templates import render
from connector.routing.match import message_id_digest
from connector.runtime import Runtime
from connector.storage.models import EmailLogRow, as_utc
from connector.storage.outbox import NewMessage, OutboundMessage, Outbox
from connector.tenant import Tenant


@dataclass(frozen=True)
class IssueThread:
    """What we know of an issue's mail: its Message-IDs oldest first, and the source it came
    in through (whose address customers should answer to)."""

    message_ids: tuple[str, ...]
    source_id: int | None


def issue_thread(runtime: Runtime, outbox: Outbox, tenant_id: int, issue_key: str) -> IssueThread:
    with Session(runtime.engine) as session:
        rows = session.exec(
            select(EmailLogRow.received_at, EmailLogRow.message_id, EmailLogRow.source_id)
            .where(
                EmailLogRow.tenant_id == tenant_id,
                EmailLogRow.issue_key == issue_key,
                col(EmailLogRow.outcome).in_(("created", "commented")),
            )
            .order_by(col(EmailLogRow.received_at))
        ).all()
    dated: list[tuple[datetime, str]] = [(as_utc(when), mid) for when, mid, _ in rows if mid]
    dated += outbox.sent_message_ids(tenant_id, issue_key)
    dated.sort(key=lambda item: item[0])
    source_id = rows[0][2] if rows else None
    return IssueThread(tuple(mid for _, mid in dated), source_id)


def reply_address(runtime: Runtime, spec: ConnectionSpec, thread: IssueThread) -> str:
    """An explicit Reply-To wins; else the mailbox the issue came in through; else From."""
    if spec.reply_to:
        return spec.reply_to
    if thread.source_id is not None:
        source = runtime.sources.find(thread.source_id)
        if source is not None and is_address(source.spec.username):
            return source.spec.username
    return spec.from_address


def issue_url(tenant: Tenant, settings: NotificationSettings, issue_key: str) -> str:
    if settings.link == "issue":
        return f"{tenant.display_url.rstrip('/')}/browse/{issue_key}"
    if settings.link:
        return settings.link.replace("{issue_key}", issue_key)
    return ""


@dataclass(frozen=True)
class MailRequest:
    kind: str  # template kind: comment | status | acknowledgement
    dedupe_key: str
    issue_key: str
    recipient: str
    recipient_name: str
    context: Mapping[str, Any]
    event_id: int | None = None


def queue_mail(
    runtime: Runtime,
    tenant: Tenant,
    spec: ConnectionSpec,
    settings: NotificationSettings,
    request: MailRequest,
    *,
    thread: IssueThread,
    outbox: Outbox,
) -> OutboundMessage | None:
    """Queue the mail; None when the same mail (dedupe key) was queued before."""
    context = {
        "issue_key": request.issue_key,
        "summary": "",
        "issue_url": issue_url(tenant, settings, request.issue_key),
        "recipient_name": request.recipient_name or request.recipient,
        "recipient_address": request.recipient,
        "site_url": tenant.display_url,
        **request.context,
    }
    rendered = render(request.kind, context, settings.templates)
    message_id = new_message_id(address_domain(spec.from_address), request.issue_key)
    message = compose(
        Envelope(
            from_address=spec.from_address,
            from_name=spec.from_name,
            to_address=request.recipient,
            to_name=request.recipient_name,
            reply_to=reply_address(runtime, spec, thread),
        ),
        rendered,
        message_id=message_id,
        thread_ids=thread.message_ids,
        loop_value=loop_header_value(runtime.settings.app_key, tenant.client_key),
    )
    runtime.threads.remember(
        tenant.id, message_id_digest(message_id), request.issue_key, "outbound"
    )
    kind = "acknowledgement" if request.kind == "acknowledgement" else "notification"
    return outbox.enqueue(
        NewMessage(
            tenant_id=tenant.id,
            kind=kind,
            dedupe_key=request.dedupe_key,
            recipient=request.recipient,
            recipient_name=request.recipient_name,
            subject=rendered.subject,
            message_id=message_id,
            raw=message.as_bytes(),
            issue_key=request.issue_key,
            event_id=request.event_id,
        )
    )
