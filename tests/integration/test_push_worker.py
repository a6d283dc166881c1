"""Push in the worker: mail delivered while the source idles becomes a Jira issue within
seconds, with no poll due; `push: false` keeps polling only; the sources list says which."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from connector.push.state import PUSH_OFF
from connector.scheduler import Scheduler
from connector.wiring import poll_source
from tests.integration.admin_support import AdminApi
from tests.integration.conftest import RunningApp
from tests.integration.mailbox_support import mail
from tests.integration.worker_support import receives, running, wait_for
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.sources import dovecot_spec


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """`serve` runs the worker in-process with SQLite: the push path is tested there."""
    return sqlite_url


def _source(api: AdminApi, dovecot: Dovecot, user: MailUser, *, push: bool) -> int:
    """An enabled source polled once an hour, its first (baseline) poll taken: no poll is
    due for the rest of the test."""
    runtime = api.app.runtime
    tenant = runtime.tenants.get(api.jira.client_key)
    assert tenant is not None
    spec = dovecot_spec(dovecot, user, interval_minutes=60, push=push)
    source = runtime.sources.create(tenant.id, spec)
    runtime.sources.set_enabled(tenant.id, source.id, True)
    assert poll_source(runtime, source.id, owner="test").counts == {}
    return source.id


@pytest.fixture
def worker(running_app: RunningApp) -> Iterator[Scheduler]:
    """What `connector worker` runs, ticking every 30 s: only push can wake it sooner."""
    scheduler = Scheduler(running_app.runtime, tick_seconds=30, push=True, push_sync_seconds=0.2)
    yield scheduler
    scheduler.stop()  # a test that failed half-way leaves no watcher behind


def test_mail_delivered_while_idling_becomes_an_issue_within_seconds(
    api: AdminApi, worker: Scheduler, dovecot: Dovecot, mail_user: MailUser
) -> None:
    source_id = _source(api, dovecot, mail_user, push=True)
    with running(worker):
        assert wait_for(lambda: receives(api, source_id) == "push (IMAP IDLE)", 10)
        time.sleep(0.5)  # the first tick is over: the next is 30 s away unless push wakes it
        delivered = time.monotonic()
        dovecot.deliver(mail_user, mail("Printer on fire", "Third floor.").as_bytes())
        assert wait_for(lambda: len(api.jira.issue_keys()) == 1, 5), "not pushed within 5 s"
        assert time.monotonic() - delivered < 5
    stored = api.app.runtime.sources.find(source_id)
    assert stored is not None and stored.receives == "push (IMAP IDLE)"


def test_push_off_keeps_polling_and_the_list_says_so(
    api: AdminApi, worker: Scheduler, dovecot: Dovecot, mail_user: MailUser
) -> None:
    source_id = _source(api, dovecot, mail_user, push=False)
    with running(worker):
        assert wait_for(lambda: receives(api, source_id) == f"polling: {PUSH_OFF}", 10)
        dovecot.deliver(mail_user, mail("Not pushed", "Wait for the poll.").as_bytes())
        time.sleep(3)
        assert api.jira.issue_keys() == []  # the next poll is an hour away
