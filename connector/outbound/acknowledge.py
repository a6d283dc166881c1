"""The optional "we received your request" mail, for issues created from mail.

Off by default. Only a `created` outcome qualifies, so auto-replies, bounces, our own loop and
ignored senders (all `ignored`) never get one, and neither do replies (`commented`). At most
`acknowledgement_per_hour` per sender, so a sender (or a forged one) cannot make us a mail
cannon. Never raises: the issue exists whatever happens here; a failure is logged.
It returns the mail it queued to send, so that whoever delivered the issue's message may have
it sent at once rather than at the outbound round's next tick.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from connector import logs
from connector.outbound.queue import MailRequest, issue_thread, queue_mail
from connector.outbound_config import is_address
from connector.outcomes import Outcome
from connector.routing.match import clean_subject
from connector.runtime import Runtime
from connector.storage.outbox import QUEUED, OutboundMessage
from connector.storage.times import utc_now
from connector.tenant import Tenant

log = logging.getLogger(__name__)


def acknowledge_created(runtime: Runtime, tenant: Tenant, issue_key: str) -> OutboundMessage | None:
    """Queue the acknowledgement for a new issue; the mail queued to send, if any (what was
    done is logged)."""
    try:
        done, queued = _acknowledge(runtime, tenant, issue_key)
    except Exception:  # the issue is made; a broken acknowledgement must not undo the poll
        log.exception("outbound.acknowledgement_failed issue_key=%s", issue_key)
        return None
    logs.event(
        log,
        "outbound.acknowledgement",
        client_key=tenant.client_key,
        issue_key=issue_key,
        outcome=done,
    )
    return queued


def _acknowledge(
    runtime: Runtime, tenant: Tenant, issue_key: str
) -> tuple[str, OutboundMessage | None]:
    """What was done, and the mail queued to send."""
    settings = runtime.outbound.settings(tenant.id)
    if not settings.acknowledgement:
        return "off", None
    stored = runtime.outbound.connection(tenant.id)
    if stored is None or not stored.spec.enabled:
        return "no connection", None
    mail = runtime.email_log.issue_mail(tenant.id, issue_key)
    row = next((entry for entry in mail if entry.outcome is Outcome.CREATED), None)
    if row is None or not is_address(row.sender):
        return "no sender", None
    since = utc_now() - timedelta(hours=1)
    if runtime.outbox.count_recent(tenant.id, "acknowledgement", row.sender, since) >= (
        settings.acknowledgement_per_hour
    ):
        return "rate limited", None
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
        thread=issue_thread(runtime, tenant.id, issue_key),
    )
    if queued is None:
        return "already queued", None
    if queued.status != QUEUED:
        return "template failed", None
    return "queued", queued


def _summary(subject: str) -> str:
    return clean_subject(subject) or "(no subject)"
