"""Jira's rate limits kept for every worker: the client against a fake Jira that plays
Atlassian's limits, with the shared state in SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from connector.jira.auth import api_token_site
from connector.jira.client import JiraClient
from connector.jira.errors import JiraRateLimited
from connector.jira.limiter import SiteLimiter
from connector.jira.limits import Priority
from connector.jira.session import RetryingSession
from connector.storage.db import make_engine, migrate
from connector.storage.jira_limits import JiraLimitStore
from connector.storage.process_limits import OneProcessLimitStore
from tests.conftest import _postgres_database
from tests.fakes.jira import FakeJira
from tests.fakes.rate_limits import RateLimits
from tests.integration.worker_support import wait_for

EMAIL, TOKEN = "bot@example.com", "token-1"
DOC = {
    "type": "doc",
    "version": 1,
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Still broken."}]}],
}


@dataclass
class Limited:
    fake: FakeJira
    store: JiraLimitStore | OneProcessLimitStore
    limiter: SiteLimiter

    def client(
        self,
        *,
        fake: FakeJira | None = None,
        priority: Priority = Priority.CUSTOMER,
        max_wait: float = 0.5,
        limiter: SiteLimiter | None = None,
    ) -> JiraClient:
        target = fake or self.fake
        target.api_tokens[EMAIL] = TOKEN
        session = RetryingSession(
            max_attempts=3, max_wait_seconds=max_wait, limiter=limiter or self.limiter
        )
        site = api_token_site(target.base_url, email=EMAIL, api_token=TOKEN)
        return JiraClient(site, timeout_seconds=5, session=session, priority=priority)


@pytest.fixture(params=["database", "one process"])
def limited(
    request: pytest.FixtureRequest, migrated_engine: Engine, fake_jira: FakeJira
) -> Limited:
    """Each behaviour with the slots in the database (every worker's) and in memory (SQLite's
    one process, pauses still in the database)."""
    stored = JiraLimitStore(migrated_engine)
    store = stored if request.param == "database" else OneProcessLimitStore(stored)
    return Limited(fake_jira, store, SiteLimiter(store, slots_per_site=2))


def _calls(fake: FakeJira) -> int:
    return len(fake.requests_log)


def test_global_quota_pauses_every_site_until_the_reset(limited: Limited) -> None:
    limits = limited.fake.play_rate_limits(RateLimits(points=2, window_seconds=2))
    with FakeJira(app_key="mail-connector") as other:
        client, other_client = limited.client(), limited.client(fake=other)
        client.myself()
        client.myself()
        with pytest.raises(JiraRateLimited):
            client.myself()  # Jira: the app's pool is empty
        sent = _calls(limited.fake), _calls(other)
        for asking in (client, other_client):
            with pytest.raises(JiraRateLimited, match="Jira asked us to wait until"):
                asking.myself()
        assert (_calls(limited.fake), _calls(other)) == sent  # nothing reached either site
        assert limits.answered_429 == ["jira-quota-global-based"]
        # After the reset the paused calls go through, and none came early.
        waiting = limited.client(max_wait=5)
        assert waiting.myself()
        assert limits.early == 0


def test_tenant_quota_pauses_only_that_site(limited: Limited) -> None:
    limited.fake.play_rate_limits(RateLimits(points=1, tier="tenant", window_seconds=60))
    with FakeJira(app_key="mail-connector") as other:
        client = limited.client()
        client.myself()
        with pytest.raises(JiraRateLimited):
            client.myself()
        sent = _calls(limited.fake)
        with pytest.raises(JiraRateLimited, match="Jira asked us to wait until"):
            client.myself()
        assert _calls(limited.fake) == sent
        assert limited.client(fake=other).myself()  # another site is not paused


def test_burst_slows_that_endpoint_only(limited: Limited) -> None:
    limits = limited.fake.play_rate_limits(RateLimits(burst_per_second=2))
    client = limited.client()
    client.myself()
    client.myself()
    with pytest.raises(JiraRateLimited):
        client.myself()  # the bucket of GET myself is empty
    site = limited.fake.base_url
    pauses = limited.store.active(site, ["GET /rest/api/3/myself"], _now())
    assert [(pause.scope, pause.reason) for pause in pauses] == [("endpoint", "jira-burst-based")]
    sent = _calls(limited.fake)
    with pytest.raises(JiraRateLimited, match="Jira asked us to wait until"):
        client.myself()
    assert _calls(limited.fake) == sent
    assert client.server_info()  # another endpoint of the site goes on
    assert limited.client(max_wait=5).myself()  # a caller that may wait a second does
    assert limits.early == 0


def test_writes_to_one_issue_are_spaced_and_jiras_per_issue_answer_is_shared(
    limited: Limited,
) -> None:
    limited.fake.add_project("SUP", "Support", issue_types=("Task",))
    client = limited.client(max_wait=5)
    key = client.create_issue(
        {"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "Printer"}
    ).key
    limits = limited.fake.play_rate_limits(RateLimits(per_issue=True))
    for _ in range(20):  # as many as Jira takes in 2 s
        client.add_comment(key, DOC)
    # Another worker does not know this one's writes: Jira refuses its write, and the
    # pause it asks for holds every worker's writes to that issue.
    elsewhere = SiteLimiter(limited.store, slots_per_site=2)
    hurried = limited.client(limiter=elsewhere)
    with pytest.raises(JiraRateLimited):
        hurried.add_comment(key, DOC)
    assert limits.answered_429 == ["jira-per-issue-on-write"]
    pauses = limited.store.active(limited.fake.base_url, [key], _now())
    assert [(pause.scope, pause.target) for pause in pauses] == [("issue", key)]
    sent = _calls(limited.fake)
    impatient = limited.client(limiter=SiteLimiter(limited.store))  # a third worker
    with pytest.raises(JiraRateLimited, match="Jira asked us to wait until"):
        impatient.add_comment(key, DOC)
    assert _calls(limited.fake) == sent
    assert impatient.get_issue(key)  # reading the issue is not held
    assert limited.client(max_wait=5).add_comment(key, DOC)
    assert limits.early == 0


def test_near_the_limit_low_priority_work_waits_and_customer_mail_goes_on(
    limited: Limited,
) -> None:
    limited.fake.play_rate_limits(RateLimits(points=10, window_seconds=60))
    client = limited.client()
    for _ in range(9):  # one point left: under 20%, Jira says so
        client.myself()
    sent = _calls(limited.fake)
    with pytest.raises(JiraRateLimited, match="Jira asked us to wait until"):
        limited.client(priority=Priority.LOW).myself()
    assert _calls(limited.fake) == sent
    assert client.myself()


def test_the_bound_per_site_holds_across_threads(limited: Limited) -> None:
    limited.fake.inject_delay(0.2, times=12)
    client = limited.client()
    threads = [threading.Thread(target=client.myself) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert limited.fake.peak_in_flight == 2


class _CountingStore:
    """The store, counting how often the slots held are asked for."""

    def __init__(self, inner: JiraLimitStore | OneProcessLimitStore) -> None:
        self.inner = inner
        self.asked = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def held(self, site: str, slots: int, now: datetime) -> int:
        self.asked += 1
        return self.inner.held(site, slots, now)


def test_a_site_is_crowded_while_every_slot_is_held_and_asking_costs_nothing_otherwise(
    limited: Limited,
) -> None:
    store = _CountingStore(limited.store)
    limiter = SiteLimiter(store, slots_per_site=2)  # type: ignore[arg-type]
    site, now, lease = limited.fake.base_url, _now(), timedelta(seconds=90)
    assert not limiter.crowded(site)
    assert store.asked == 0  # no request of this process found the site full: not asked
    # Another worker holds both slots; a request of ours waits for one.
    assert [limited.store.take_slot(site, 2, "other", now, lease) for _ in range(2)] == [0, 1]
    waiting = threading.Thread(target=limited.client(limiter=limiter, max_wait=30).myself)
    waiting.start()
    assert wait_for(lambda: limiter.crowded(site), 5)
    assert store.asked >= 1
    assert not limiter.crowded("https://other.atlassian.net")  # another site has room
    limited.store.free_slot(site, 0, "other")
    waiting.join(timeout=10)
    assert not waiting.is_alive()
    # The waiting request took the slot and gave it back: one of two is held.
    assert not limiter.crowded(site)


def test_a_dead_workers_slots_free_themselves_when_their_lease_ends(
    limited: Limited,
) -> None:
    store, now, lease = limited.store, _now(), timedelta(seconds=90)
    site = "https://acme.atlassian.net"
    assert [store.take_slot(site, 2, "dead", now, lease) for _ in range(3)] == [0, 1, None]
    assert store.take_slot("https://other.atlassian.net", 2, "alive", now, lease) == 0
    assert store.take_slot(site, 2, "alive", now + timedelta(seconds=89), lease) is None
    assert store.take_slot(site, 2, "alive", now + timedelta(seconds=91), lease) == 0
    store.free_slot(site, 0, "dead")  # too late: the slot is another worker's now
    assert store.take_slot(site, 2, "third", now + timedelta(seconds=92), lease) == 1


def test_a_paused_request_takes_no_slot_and_near_limits_hold_only_low_priority(
    limited: Limited,
) -> None:
    store, now, lease = limited.store, _now(), timedelta(seconds=90)
    site, endpoint = "https://acme.atlassian.net", "GET /rest/api/3/myself"
    store.pause("near-site", site, "", now + timedelta(minutes=10), "near-limit")
    taken, pauses = store.enter(site, 2, "mail", now, lease, [endpoint], near_limits=False)
    assert (taken is not None, pauses) == (True, [])
    slot, pauses = store.enter(site, 2, "import", now, lease, [endpoint], near_limits=True)
    assert (slot, [pause.scope for pause in pauses]) == (None, ["near-site"])
    store.pause("endpoint", site, endpoint, now + timedelta(minutes=1), "jira-burst-based")
    slot, pauses = store.enter(site, 2, "mail", now, lease, [endpoint], near_limits=False)
    assert (slot, [pause.scope for pause in pauses]) == (None, ["endpoint"])
    other, pauses = store.enter(site, 2, "mail", now, lease, ["GET /other"], near_limits=False)
    assert ({taken, other}, pauses) == ({0, 1}, [])
    slot, pauses = store.enter(site, 2, "mail", now, lease, ["GET /other"], near_limits=False)
    assert (slot, pauses) == (None, [])  # both slots held, no pause to wait for


def test_a_pause_is_extended_never_shortened(limited: Limited) -> None:
    store, now = limited.store, _now()
    site = "https://acme.atlassian.net"
    store.pause("site", site, "", now + timedelta(minutes=10), "jira-quota-tenant-based")
    store.pause("site", site, "", now + timedelta(minutes=1), "jira-burst-based")
    [pause] = store.active(site, [], now)
    assert (pause.until, pause.reason) == (now + timedelta(minutes=10), "jira-quota-tenant-based")


def _now() -> datetime:
    return datetime.now(UTC)


# --- two worker processes on PostgreSQL ----------------------------------------------------


def _worker(database_url: str, base_url: str, slots: int, threads: int, seconds: float) -> int:
    """A worker process: `threads` threads calling the site for `seconds`; answers how many
    calls were refused (Jira's 429 or our own pause)."""
    engine = make_engine(database_url)
    limiter = SiteLimiter(JiraLimitStore(engine), slots_per_site=slots)
    refused = [0]
    deadline = time.monotonic() + seconds

    def run() -> None:
        session = RetryingSession(max_attempts=1, max_wait_seconds=0.2, limiter=limiter)
        site = api_token_site(base_url, email=EMAIL, api_token=TOKEN)
        client = JiraClient(site, timeout_seconds=5, session=session)
        while time.monotonic() < deadline:
            try:
                client.myself()
            except JiraRateLimited:
                refused[0] += 1
                time.sleep(0.05)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    engine.dispose()
    return refused[0]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """Several worker processes share the work on PostgreSQL only."""
    for url in _postgres_database():
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url


def _run_workers(postgres_url: str, fake: FakeJira, slots: int, seconds: float) -> list[int]:
    fake.api_tokens[EMAIL] = TOKEN
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        args = (postgres_url, fake.base_url, slots, 4, seconds)
        return pool.starmap(_worker, [args, args])


def test_two_processes_share_the_bound_per_site(postgres_url: str, fake_jira: FakeJira) -> None:
    fake_jira.inject_delay(0.1, times=10_000)
    _run_workers(postgres_url, fake_jira, slots=3, seconds=3)
    # Eight threads in two processes asked at once; the site never saw more than three.
    assert fake_jira.peak_in_flight == 3
    assert len(fake_jira.requests_log) > 20


def test_two_processes_send_nothing_during_a_pause(postgres_url: str, fake_jira: FakeJira) -> None:
    limits = fake_jira.play_rate_limits(RateLimits(points=20, window_seconds=2))
    refused = _run_workers(postgres_url, fake_jira, slots=1, seconds=5)
    # Two pools emptied in five seconds: each time Jira said so once, and every worker waited.
    assert 1 <= limits.answered_429.count("jira-quota-global-based") <= 3
    assert limits.early == 0
    assert sum(refused) > len(limits.answered_429)


def test_an_overlong_reason_or_endpoint_from_jira_is_kept_cut(limited: Limited) -> None:
    site, until = "https://acme.atlassian.net", _now() + timedelta(minutes=1)
    long_path = "GET /rest/api/3/" + "x" * 400
    limited.store.pause("endpoint", site, long_path, until, "r" * 200)
    [pause] = limited.store.active(site, [long_path], _now())
    assert (pause.target, pause.reason) == (long_path[:255], "r" * 64)
