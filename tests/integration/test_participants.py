"""Who took part in an issue (connector/storage/threads.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from connector.storage.secrets import SecretBox
from connector.storage.tenants import TenantRepository
from connector.storage.threads import Participant, ParticipantRepository
from tests.integration.tenants import install_payload


def _tenant(engine: Engine) -> int:
    box = SecretBox([Fernet.generate_key().decode("ascii")])
    tenant, _ = TenantRepository(engine, box).save_install(install_payload("jira:people"))
    return tenant.id


def test_people_are_added_then_refreshed_and_a_sender_stays_a_sender(
    migrated_engine: Engine,
) -> None:
    tenant_id = _tenant(migrated_engine)
    people = ParticipantRepository(migrated_engine)
    people.record(
        tenant_id,
        "SUP-1",
        [
            Participant("ann@example.com", "Ann", "sender", "acc-ann"),
            Participant("bob@example.com", "Bob", "cc"),
            Participant("ann@example.com", "", "cc"),  # the same address again, copied
        ],
    )
    [ann, bob] = people.for_issue(tenant_id, "SUP-1")
    assert (ann.address, ann.role, ann.name, ann.jira_account_id) == (
        "ann@example.com",
        "sender",
        "Ann",
        "acc-ann",
    )
    assert (bob.role, bob.jira_account_id) == ("cc", None)

    # A later message: Ann only copied and nameless, Bob now writing, with an account.
    people.record(
        tenant_id,
        "SUP-1",
        [
            Participant("bob@example.com", "Robert", "sender", "acc-bob"),
            Participant(" ann@example.com ", "", "cc", None),
            Participant("cy@example.com", "Cy", "cc"),
        ],
    )
    after = {person.address: person for person in people.for_issue(tenant_id, "SUP-1")}
    assert set(after) == {"ann@example.com", "bob@example.com", "cy@example.com"}
    assert (after["ann@example.com"].role, after["ann@example.com"].name) == ("sender", "Ann")
    assert after["ann@example.com"].jira_account_id == "acc-ann"
    assert after["ann@example.com"].first_seen == ann.first_seen
    assert after["ann@example.com"].last_seen >= ann.last_seen
    assert (after["bob@example.com"].role, after["bob@example.com"].name) == ("sender", "Robert")
    assert after["bob@example.com"].jira_account_id == "acc-bob"
    assert people.for_issue(tenant_id, "SUP-2") == []
