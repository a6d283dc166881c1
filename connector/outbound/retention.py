"""Forget message content after the tenant's retention period (default 30 days; 0: at once).

What goes: the encrypted raw mail in the email log (once the message reached a final outcome;
a message still waiting for a retry needs it) and the MIME of outgoing mail that was sent or
gave up. What stays: the audit rows, with sender, subject, outcome and reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from connector.outbound_config import DEFAULT_RETENTION_DAYS
from connector.runtime import Runtime


def purge_expired(runtime: Runtime, now: datetime) -> int:
    """Purge every tenant's expired content; returns how many items were forgotten."""
    custom = runtime.outbound.retention_days()
    purged = 0
    for tenant_id in runtime.tenants.ids():
        cutoff = now - timedelta(days=custom.get(tenant_id, DEFAULT_RETENTION_DAYS))
        purged += runtime.outbox.purge_content(tenant_id, cutoff)
        purged += runtime.email_log.purge_content(tenant_id, cutoff)
    return purged
