"""Scheduling: who is due, bounds per tenant, leases, and backoff of a failing source."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy.engine import Engine

from connector.mail_source import SourceSpec
from connector.polling import PollResult
from connector.runtime import Runtime
from connector.scheduler import Scheduler
from connector.settings import Settings
from connector.storage.times import utc_now
from connector.tenant import InstallPayload
from connector.wiring import poll_source
from tests.conftest import make_settings
from tests.servers.dovecot import Dovecot, MailUser


def _runtime(engine: Engine, encryption_key: str) -> Runtime:
    settings: Settings = make_settings(
        base_url="http://localhost:8000",
        database_url=str(engine.url.render_as_string(hide_password=False)),
        encryption_key=encryption_key,
    )
    return Runtime.create(settings, engine=engine)


def _tenant(runtime: Runtime, client_key: str) -> int:
    tenant, _ = runtime.tenants.save_install(
        InstallPayload(
            key="mail-connector",
            client_key=client_key,
            shared_secret="s" * 40,
            base_url=f"https://{client_key}.atlassian.example",
            display_url=f"https://{client_key}.atlassian.example",
            product_type="jira",
            description="",
            server_version="",
            plugins_version="",
        )
    )
    return tenant.id


def _source(runtime: Runtime, tenant_id: int, name: str, **changes: object) -> int:
    spec = SourceSpec(
        name=name,
        protocol="imap",
        host="127.0.0.1",
        port=993,
        username="someone",
        password="pw",
        project_key="SUP",
        issue_type="Task",
    ).with_changes(**changes)
    source = runtime.sources.create(tenant_id, spec)
    runtime.sources.set_enabled(tenant_id, source.id, True)
    return source.id


def test_scheduler_due_skips_disabled_sources_and_inactive_tenants(
    migrated_engine: Engine, encryption_key: str
) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    active = _tenant(runtime, "site-a")
    gone = _tenant(runtime, "site-b")
    due = _source(runtime, active, "due")
    off = _source(runtime, active, "off")
    runtime.sources.set_enabled(active, off, False)
    _source(runtime, gone, "of an uninstalled site")
    runtime.tenants.mark_uninstalled("site-b")
    assert runtime.sources.due(utc_now() + timedelta(seconds=1)) == [due]


def test_scheduler_bounds_polls_per_tenant(migrated_engine: Engine, encryption_key: str) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    busy = _tenant(runtime, "busy-site")
    quiet = _tenant(runtime, "quiet-site")
    busy_sources = [_source(runtime, busy, f"busy {n}") for n in range(4)]
    quiet_source = _source(runtime, quiet, "quiet")
    release = threading.Event()
    started: list[int] = []

    def slow_poll(_runtime: Runtime, source_id: int) -> PollResult:
        started.append(source_id)
        release.wait(10)
        return PollResult(True, "done")

    scheduler = Scheduler(runtime, max_workers=4, per_tenant=2, poll=slow_poll)
    launched = scheduler.tick(utc_now() + timedelta(seconds=1))
    try:
        assert quiet_source in launched  # the busy tenant did not take every worker
        assert len([s for s in launched if s in busy_sources]) == 2
        assert scheduler.tick(utc_now() + timedelta(seconds=1)) == []  # nothing twice
    finally:
        release.set()
        assert scheduler.wait_idle()
        scheduler.stop()


def test_scheduler_lease_stops_a_second_poll_of_the_same_source(
    migrated_engine: Engine, encryption_key: str
) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    source_id = _source(runtime, _tenant(runtime, "site-a"), "leased")
    assert runtime.sources.lease(source_id, "worker-1", 60)
    result = poll_source(runtime, source_id, owner="worker-2")
    assert result.skipped and not result.ok
    assert "another poll" in result.message
    runtime.sources.release(source_id, "worker-1")
    assert runtime.sources.lease(source_id, "worker-2", 60)


def test_a_polls_record_gives_up_only_its_own_lease(
    migrated_engine: Engine, encryption_key: str
) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    source_id = _source(runtime, _tenant(runtime, "site-a"), "recorded")
    later = utc_now() + timedelta(hours=1)
    first = utc_now() - timedelta(days=1)
    assert runtime.sources.lease(source_id, "worker-1", 60)
    runtime.sources.record_poll(
        source_id, ok=False, message="refused", next_poll_at=later, release="worker-2"
    )
    assert not runtime.sources.lease(source_id, "worker-2", 60)  # worker-1 holds it still
    runtime.sources.record_poll(
        source_id,
        ok=True,
        message="no new mail",
        next_poll_at=later,
        release="worker-1",
        first_connected_at=first,
    )
    assert runtime.sources.lease(source_id, "worker-2", 60)
    stored = runtime.sources.find(source_id)
    assert stored is not None
    assert (stored.status, stored.status_message, stored.consecutive_failures) == (
        "ok",
        "no new mail",
        0,
    )
    assert stored.next_poll_at == later and stored.first_connected_at == first
    runtime.sources.record_poll(
        source_id, ok=True, message="", next_poll_at=later, first_connected_at=utc_now()
    )
    kept = runtime.sources.find(source_id)
    assert kept is not None and kept.first_connected_at == first  # the first one stays


def test_poll_wrong_password_shows_server_error_and_backs_off(
    migrated_engine: Engine, encryption_key: str, dovecot: Dovecot, mail_user: MailUser
) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    tenant_id = _tenant(runtime, "site-a")
    source_id = _source(
        runtime,
        tenant_id,
        "bad password",
        host=dovecot.host,
        port=dovecot.ports.imaps,
        verify_tls=False,
        username=mail_user.name,
        password="wrong-password",
        timeout_seconds=5,
    )
    before = utc_now()
    first = poll_source(runtime, source_id, owner="test")
    assert not first.ok
    assert first.message.startswith("login refused")
    stored = runtime.sources.find(source_id)
    assert stored is not None
    assert stored.status == "error"
    assert stored.status_message == first.message
    assert stored.consecutive_failures == 1
    assert stored.next_poll_at is not None
    assert stored.next_poll_at >= before + timedelta(minutes=2)
    poll_source(runtime, source_id, owner="test")
    again = runtime.sources.find(source_id)
    assert again is not None and again.consecutive_failures == 2
    assert again.next_poll_at is not None and again.next_poll_at >= before + timedelta(minutes=4)


def _not_due(runtime: Runtime, source_id: int) -> None:
    runtime.sources.record_poll(
        source_id, ok=True, message="no new mail", next_poll_at=utc_now() + timedelta(hours=1)
    )


def test_poll_soon_coalesces_and_polls_once_more_after_a_running_poll(
    migrated_engine: Engine, encryption_key: str
) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    tenant_id = _tenant(runtime, "site-a")
    source_id = _source(runtime, tenant_id, "pushed")
    _not_due(runtime, source_id)
    release = threading.Event()
    polls: list[int] = []

    def slow_poll(_runtime: Runtime, polled: int) -> PollResult:
        polls.append(polled)
        release.wait(10)
        return PollResult(True, "done")

    scheduler = Scheduler(runtime, poll=slow_poll)
    try:
        assert scheduler.tick(utc_now()) == []  # not due, not announced
        for _ in range(3):
            scheduler.poll_soon(source_id)
        assert scheduler.tick(utc_now()) == [source_id]  # three announcements, one poll
        scheduler.poll_soon(source_id)  # mail during the poll ...
        scheduler.poll_soon(source_id)
        assert scheduler.tick(utc_now()) == []  # ... is not polled beside it
        release.set()
        assert scheduler.wait_idle()
        assert scheduler.tick(utc_now()) == [source_id]  # ... but once after it
        assert scheduler.wait_idle()
        assert scheduler.tick(utc_now()) == []
        assert polls == [source_id, source_id]
    finally:
        release.set()
        scheduler.stop()


def test_poll_soon_drops_a_disabled_source(migrated_engine: Engine, encryption_key: str) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    tenant_id = _tenant(runtime, "site-a")
    source_id = _source(runtime, tenant_id, "turned off")
    _not_due(runtime, source_id)
    runtime.sources.set_enabled(tenant_id, source_id, False)
    scheduler = Scheduler(runtime, poll=lambda _rt, _id: PollResult(True, "done"))
    scheduler.poll_soon(source_id)
    assert scheduler.tick(utc_now()) == []
    runtime.sources.set_enabled(tenant_id, source_id, True)
    _not_due(runtime, source_id)
    assert scheduler.tick(utc_now()) == []  # not kept for later either
    scheduler.stop()


def test_one_worker_at_a_time_may_idle_on_a_source(
    migrated_engine: Engine, encryption_key: str
) -> None:
    runtime = _runtime(migrated_engine, encryption_key)
    tenant_id = _tenant(runtime, "site-a")
    first, second = (_source(runtime, tenant_id, name) for name in ("one", "two"))
    assert runtime.sources.claim_push([first], "worker-1", 60) == {first}
    assert runtime.sources.claim_push([first, second], "worker-2", 60) == {second}
    assert runtime.sources.claim_push([first], "worker-1", 60) == {first}  # renewed
    runtime.sources.release_push("worker-1")
    assert runtime.sources.claim_push([first, second], "worker-2", 60) == {first, second}
    assert runtime.sources.claim_push([first], "worker-3", -1) == set()  # still held
    assert runtime.sources.claim_push([first], "worker-2", -1) == {first}  # now expired
    assert runtime.sources.claim_push([first], "worker-3", 60) == {first}  # taken over
