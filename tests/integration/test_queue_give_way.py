"""A delivery gives way while its Jira site is crowded (issue 17): a worker runs a fixed number
of jobs at once, and deliveries waiting for one busy site's request slots would hold them all
while other sites' Jira has room. A delivery whose site has every slot held, while a request
of its worker waits for one, is not begun: its job is queued again for a moment later, and
the message is delivered once a slot frees, after its parent and once.

Real PostgreSQL, Dovecot and the fake Jira; the slots are held by another "worker" in the
shared store, as a busy site's would be."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest

from connector.engine.queue import FRESH
from connector.jira.auth import tenant_site
from connector.jira.limits import Priority
from connector.outcomes import Outcome
from connector.storage.db import libpq_url
from connector.storage.jira_limits import JiraLimitStore
from connector.storage.times import utc_now
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.test_queue_delivery import _Calls, _engine, _finals, _pair
from tests.integration.test_queue_engine import _run
from tests.integration.worker_support import running, wait_for
from tests.servers.dovecot import Dovecot, MailUser

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _jobs(database_url: str) -> dict[int, tuple[int, int]]:
    """The delivery jobs queued or running, by message: how often each gave way already, and
    how often it waited for an earlier message of its thread."""
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute(
            "SELECT (args->>'entry_id')::int, coalesce((args->>'gave_way')::int, 0),"
            " coalesce((args->>'waited')::int, 0) FROM procrastinate_jobs"
            " WHERE task_name = 'connector.deliver' AND status IN ('todo', 'doing')"
        ).fetchall()
    return {int(entry): (int(gave_way), int(waited)) for entry, gave_way, waited in rows}


def test_a_delivery_gives_way_while_its_site_is_crowded_then_goes_in_its_place(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> None:
    pair = _pair(running_app, fake_jira, dovecot, mail_user)
    runtime = pair.runtime
    engine = _engine(runtime, _Calls())
    jobs = pair.fetch(engine)  # the parent's job first, then its reply's (one thread)
    assert len(jobs) == 2
    with psycopg.connect(libpq_url(runtime.settings.database_url)) as connection:
        named = connection.execute(
            "SELECT args->>'source' FROM procrastinate_jobs WHERE task_name = 'connector.deliver'"
        ).fetchall()
    assert named == [(str(pair.source_id),)] * 2  # a job names its source, for the check

    tenant = runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None
    site = tenant_site(tenant, app_key=runtime.settings.app_key).base_url
    limiter = runtime.jira_limiter
    slots, now, lease = limiter.slots_per_site, utc_now(), timedelta(seconds=90)
    # Another worker holds every slot of the site, and a request of this one waits for one.
    store = JiraLimitStore(runtime.engine)
    taken = [store.take_slot(site, slots, "busy-worker", now, lease) for _ in range(slots)]
    assert taken == list(range(slots))
    url = f"{site}/rest/api/3/myself"

    def wait_for_a_slot() -> None:
        with limiter.admit(site, "GET", url, Priority.CUSTOMER, max_wait=60):
            pass

    waiting = threading.Thread(target=wait_for_a_slot)
    waiting.start()
    assert wait_for(lambda: limiter.crowded(site), 10)

    database_url = runtime.settings.database_url
    parent, reply = jobs[0][0], jobs[1][0]  # the parent's message was queued first
    with running(engine):
        # The parent's delivery gave way, more than once; its message was not begun. The
        # reply's job, now first in the thread's queue, gave way too: it did not spend its
        # patience waiting for a parent that cannot go.
        assert wait_for(lambda: _jobs(database_url).get(parent, (0, 0))[0] >= 2, 30)
        assert wait_for(lambda: _jobs(database_url).get(reply, (0, 0))[0] >= 1, 30)
        assert _jobs(database_url)[reply][1] == 0
        assert _finals(runtime, pair.tenant_id) == {}
        assert fake_jira.issue_keys() == []
        with psycopg.connect(libpq_url(database_url)) as connection:
            claims = connection.execute(
                "SELECT count(*) FROM email_log WHERE claimed_until IS NOT NULL"
            ).fetchone()
        assert claims == (0,)
        # A second delivery job of the message meanwhile (a poll queues again what has no job
        # waiting, and one that gave way is not waiting while it runs): no harm, and none is
        # left behind for ever.
        other = _engine(runtime, _Calls())
        _run(other, lambda: other._delivery_jobs.defer(parent, jobs[0][1], FRESH))
        # The busy worker's requests end: the waiting request goes, then the thread, in order.
        for slot in taken:
            assert slot is not None
            store.free_slot(site, slot, "busy-worker")
        waiting.join(timeout=10)
        assert wait_for(lambda: len(_finals(runtime, pair.tenant_id)) == 2, 60)
        assert wait_for(lambda: _jobs(database_url) == {}, 30)  # every delivery job ended
    outcomes = sorted(_finals(runtime, pair.tenant_id).values())
    assert outcomes == [Outcome.COMMENTED, Outcome.CREATED]  # the reply went after its parent
    assert len(fake_jira.issue_keys()) == 1
