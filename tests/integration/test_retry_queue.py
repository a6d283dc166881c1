"""The retry queue in a table (connector/storage/retry_queue.py), through both queues built on
it, on SQLite and PostgreSQL: claims are exclusive, a dead worker's lease runs out, a lost
claim writes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from connector.storage import outbox as outbox_module
from connector.storage import webhook_events as events_module
from connector.storage.outbox import FAILED, SENT, NewMessage, Outbox
from connector.storage.secrets import SecretBox
from connector.storage.tenants import TenantRepository
from connector.storage.times import utc_now
from connector.storage.webhook_events import WebhookEvents
from tests.integration.tenants import install_payload


def _tenant_id(engine: Engine, key: str) -> int:
    tenant, _ = TenantRepository(engine, SecretBox([key])).save_install(
        install_payload("jira:site-queue")
    )
    return tenant.id


def test_webhook_event_claimed_once_until_its_lease_runs_out(
    migrated_engine: Engine, encryption_key: str
) -> None:
    tenant_id = _tenant_id(migrated_engine, encryption_key)
    events = WebhookEvents(migrated_engine)
    recorded, new = events.record(tenant_id, delivery_id="d-1", event="comment_created", facts={})
    again, new_again = events.record(
        tenant_id, delivery_id="d-1", event="comment_created", facts={}
    )
    assert (new, new_again, again.id) == (True, False, recorded.id)

    now = utc_now()
    (claimed,) = events.claim_due(now)
    assert (claimed.id, claimed.status, claimed.attempts) == (recorded.id, "working", 1)
    assert events.claim_due(now + events_module.LEASE - timedelta(seconds=1)) == []
    # The worker died holding it: once the lease is over, another worker takes it.
    (reclaimed,) = events.claim_due(now + events_module.LEASE + timedelta(seconds=1))
    assert (reclaimed.id, reclaimed.attempts) == (recorded.id, 2)

    events.postpone(recorded.id, "Jira: 503", now + timedelta(hours=1))
    assert events.claim_due(now + timedelta(minutes=59)) == []
    assert [e.id for e in events.claim_due(now + timedelta(hours=1))] == [recorded.id]
    events.finish(recorded.id, "handled", "")
    assert events.claim_due(now + timedelta(days=1)) == []
    final = events.get(tenant_id, recorded.id)
    assert final is not None and (final.status, final.next_attempt_at) == ("handled", None)
    assert events.get(tenant_id + 1, recorded.id) is None  # another tenant's id finds nothing


def test_outbox_lost_claim_neither_renews_nor_finishes(
    migrated_engine: Engine, encryption_key: str
) -> None:
    tenant_id = _tenant_id(migrated_engine, encryption_key)
    outbox = Outbox(migrated_engine, SecretBox([encryption_key]))
    new = NewMessage(
        tenant_id=tenant_id,
        kind="notification",
        dedupe_key="event:1:ann@example.com",
        recipient="ann@example.com",
        subject="SUP-1",
        message_id="<mc.SUP-1.x@example.com>",
        raw=b"Subject: SUP-1\r\n\r\nhello\r\n",
    )
    queued = outbox.enqueue(new)
    assert queued is not None and outbox.enqueue(new) is None  # one mail per dedupe key

    now = utc_now()
    first = outbox.claim_next(now)
    assert first is not None and first.lease_until == now + outbox_module.LEASE
    assert outbox.claim_next(now) is None
    later = now + outbox_module.LEASE + timedelta(seconds=1)
    second = outbox.claim_next(later)
    assert second is not None and second.attempts == 2

    assert outbox.renew(first, later) is None  # the first worker lost it: it must not send
    assert not outbox.finish(first, FAILED, "too late")
    sending = later + timedelta(seconds=5)
    renewed = outbox.renew(second, sending)
    assert renewed is not None and renewed.lease_until == sending + outbox_module.LEASE
    assert not outbox.finish(second, SENT)  # the renewal replaced that claim's token
    assert outbox.finish(renewed, SENT)
    (sent,) = outbox.search(tenant_id, status=SENT)
    assert (sent.id, sent.lease_until, sent.sent_at is not None) == (queued.id, None, True)
    assert outbox.claim_next(later + timedelta(days=1)) is None
