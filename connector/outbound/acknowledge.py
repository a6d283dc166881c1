"""The optional "we received your request" mail, for issues created from mail.

Off by default. Only a `created` outcome qualifies, so auto-replies, bounces, our own loop and
ignored senders (all `ignored`) never get one, and neither do replies (`commented`). At most
`acknowledgement_per_hour` per sender, so a sender (or a forged one) cannot make us a mail
cannon. Never raises: the issue exists whatever happens here; a failure is logged.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session, col, select

from connector import logs
from connector.outbound.queue import MailRequest, issue_thread, queue_mail
from connector.outbound_config import is_address
from connector.routing.match import clean_subject
from connector.runtime import Runtime
from connector.storage.models import EmailLogRow, utc_now
from connector.storage.outbound import OutboundRepository
from connector.storage.outbox import FAILED, Outbox
from connector.tenant import Tenant

log = logging.getLogger(__name__)


def acknowledge_created(runtime: Runtime, tenant: Tenant, issue_key: str) -> str:
    """Queue the acknowledgement for a new issue; returns what was done, for logs and tests."""
    try:
        done = _acknowledge(runtime, tenant, issue_key)
    except Exception:  # the issue is made; a broken acknowledgement must not undo the poll
        log.exception("outbound.acknowledgement_failed issue_key=%s", issue_key)
        return "error"
    logs.event(
        log,
        "outbound.acknowledgement",
        client_key=tenant.client_key,
        issue_key=issue_key,
        outcome=done,
    )
    return done


def _acknowledge(runtime: Runtime, tenant: Tenant, issue_key: str) -> str:
    repository = OutboundRepository(runtime.engine, runtime.secrets)
    settings = repository.settings(tenant.id)
    if not settings.acknowledgement:
        return "off"
    stored = repository.connection(tenant.id)
    if stored is None or not stored.spec.enabled:
        return "no connection"
    with Session(runtime.engine) as session:
        row = session.exec(
            select(EmailLogRow)
            .where(
                EmailLogRow.tenant_id == tenant.id,
                EmailLogRow.issue_key == issue_key,
                EmailLogRow.outcome == "created",
            )
            .order_by(col(EmailLogRow.id))
        ).first()
    if row is None or not is_address(row.sender):
        return "no sender"
    outbox = Outbox(runtime.engine, runtime.secrets)
    since = utc_now() - timedelta(hours=1)
    if outbox.count_recent(tenant.id, "acknowledgement", row.sender, since) >= (
        settings.acknowledgement_per_hour
    ):
        return "rate limited"
    queued = queue_mail(
        runtime,
        tenant,
        stored.spec,
        settings,
        MailRequest(
            kind="acknowledgement",
            dedupe_key=f"ack:{issue_key}",
            issue_key=issue_key,
            recipient=row.sender,
            recipient_name=row.sender_name,
            context={"summary": _summary(row.subject)},
        ),
        thread=issue_thread(runtime, outbox, tenant.id, issue_key),
        outbox=outbox,
    )
    if queued is None:
        return "already queued"
    return "template failed" if queued.status == FAILED else "queued"


def _summary(subject: str) -> str:
    return clean_subject(subject) or "(no subject)"
