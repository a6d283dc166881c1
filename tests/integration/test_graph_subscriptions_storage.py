"""The Graph subscription rows on both databases: one owner per row, marks taken once, the
clientState kept only as a hash, rows gone with their source."""

from __future__ import annotations

from datetime import timedelta

from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import Engine

from connector.storage.graph_subscriptions import (
    REAUTHORIZE,
    RESUBSCRIBE,
    GraphSubscriptionRepository,
    client_state_hash,
)
from connector.storage.secrets import SecretBox
from connector.storage.sources import SourceRepository
from connector.storage.times import utc_now
from tests.integration.pipeline_support import support_source


def test_claims_marks_and_removal(migrated_engine: Engine) -> None:
    key = Fernet.generate_key().decode("ascii")
    source_id = support_source(migrated_engine, key, "jira:graph-rows").source.id
    repository = GraphSubscriptionRepository(migrated_engine)

    assert repository.claim([source_id], "worker-a", 60) == {source_id}
    assert repository.claim([source_id], "worker-b", 60) == set()  # held by the first
    assert repository.claim([source_id], "worker-a", 60) == {source_id}  # renewed
    assert repository.claim([source_id + 1000], "worker-a", 60) == set()  # no such source

    now = utc_now()
    repository.subscribed(
        source_id,
        subscription_id="sub-1",
        client_state_hash=client_state_hash("the-state"),
        expires_at=now + timedelta(days=2),
        renew_at=now + timedelta(days=1),
    )
    found = repository.by_subscription("sub-1")
    assert found is not None and found.source_id == source_id and found.accepts("the-state")
    with migrated_engine.connect() as connection:
        stored = connection.execute(text("SELECT * FROM graph_subscriptions")).mappings().one()
    assert "the-state" not in str(dict(stored))

    assert repository.take_notified("worker-a") == []
    assert repository.mark("sub-1", notified=True)
    assert repository.mark("sub-1", notified=True)  # a storm: still one mark
    assert repository.take_notified("worker-b") == []  # not theirs
    assert repository.take_notified("worker-a") == [source_id]
    assert repository.take_notified("worker-a") == []
    assert not repository.mark("sub-unknown", notified=True)

    assert repository.mark("sub-1", pending=REAUTHORIZE)
    repository.renewed(source_id, expires_at=now + timedelta(days=3), renew_at=now)
    renewed = repository.get(source_id)
    assert renewed is not None and renewed.pending == ""
    assert repository.mark("sub-1", pending=RESUBSCRIBE)
    repository.renewed(source_id, expires_at=now + timedelta(days=3), renew_at=now)
    kept = repository.get(source_id)
    assert kept is not None and kept.pending == RESUBSCRIBE  # a renewal does not replace it

    repository.unsubscribed(source_id)
    assert repository.by_subscription("sub-1") is None
    repository.release("worker-a")
    assert repository.claim([source_id], "worker-b", 60) == {source_id}

    tenant_id = support_source(migrated_engine, key, "jira:graph-rows-2").tenant_id
    other = SourceRepository(migrated_engine, SecretBox([key]))
    doomed = other.search(tenant_id)[0].id
    assert repository.claim([doomed], "worker-b", 60) == {doomed}
    assert other.delete(tenant_id, doomed)
    assert repository.get(doomed) is None
