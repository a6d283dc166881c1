"""Forget message content after the tenant's retention period (default 30 days; 0: at once).

What goes: the encrypted raw mail in the email log (once the message reached a final outcome;
a message still waiting for a retry needs it) and the MIME of outgoing mail that was sent or
gave up. What stays: the audit rows, with sender, subject, outcome and reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.outbound_config import DEFAULT_RETENTION_DAYS
from connector.storage.models import EmailLogRow, TenantRow
from connector.storage.outbound import OutboundRepository
from connector.storage.outbox import Outbox


def purge_expired(
    engine: Engine, repository: OutboundRepository, outbox: Outbox, now: datetime
) -> int:
    """Purge every tenant's expired content; returns how many items were forgotten."""
    custom = repository.retention_days()
    with Session(engine) as session:
        tenant_ids = [int(t) for t in session.exec(select(TenantRow.id)).all() if t is not None]
    purged = 0
    for tenant_id in tenant_ids:
        cutoff = now - timedelta(days=custom.get(tenant_id, DEFAULT_RETENTION_DAYS))
        purged += outbox.purge_content(tenant_id, cutoff)
        with Session(engine) as session:
            result = session.execute(
                update(EmailLogRow)
                .where(
                    col(EmailLogRow.tenant_id) == tenant_id,
                    col(EmailLogRow.raw_encrypted).is_not(None),
                    col(EmailLogRow.outcome) != "pending",
                    col(EmailLogRow.received_at) <= cutoff,
                )
                .values(raw_encrypted=None)
            )
            session.commit()
            purged += int(result.rowcount)  # type: ignore[attr-defined]
    return purged
