"""Delivery as separate work on PostgreSQL (issue 17): a fetch records and queues one delivery
job per message (`connector.handoff`), and the jobs run on any worker, threads in parallel,
each thread in order; a message is processed once however often its job runs, a dead
worker's message is taken again when its claim lapses, and the mailbox gets its post-actions
from the next fetch.

Real PostgreSQL, Dovecot and the fake Jira; the tracker is the real one, slowed down so that
a reply delivered before its parent, or threads run one after the other, would show."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import psycopg
import pytest

from connector.drafts import AddedComment, CommentDraft, IssueDraft, IssueTracker
from connector.engine.queue import FIRST_IN_THREAD, FRESH, QueueEngine
from connector.jira.errors import JiraWaiting
from connector.outcomes import Outcome
from connector.runtime import Runtime
from connector.storage.db import libpq_url
from connector.storage.times import utc_now
from connector.tenant import Tenant
from connector.wiring import jira_tracker, poll_source
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.test_queue_engine import _run
from tests.integration.worker_support import running, wait_for
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.sources import dovecot_spec

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
SLOW = 0.15  # seconds per Jira write


class _Calls:
    """Jira calls that write, as the slowed tracker saw them: order, and how many at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.order: list[str] = []  # subjects, as their writes began
        self.pause: set[str] = set()  # subjects whose first write Jira asks to wait with

    @contextmanager
    def call(self, subject: str) -> Iterator[None]:
        if subject in self.pause:
            self.pause.discard(subject)
            raise JiraWaiting(429, ["wait a second"], retry_after=1)
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.order.append(subject)
        try:
            time.sleep(SLOW)
            yield
        finally:
            with self.lock:
                self.running -= 1


class _SlowTracker:
    """The real tracker, each write slowed down and noted."""

    def __init__(self, inner: IssueTracker, calls: _Calls) -> None:
        self._inner = inner
        self._calls = calls

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def create_issue(self, draft: IssueDraft) -> str:
        with self._calls.call(draft.summary):
            return self._inner.create_issue(draft)

    def add_comment(self, draft: CommentDraft) -> AddedComment:
        with self._calls.call(f"comment on {draft.issue_key}"):
            return self._inner.add_comment(draft)


def _message(index: int, subject: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"Customer {index} <customer{index}@example.com>"
    message["To"] = "support@example.com"
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(f"Message number {index}.\n")
    return message.as_bytes()


def _threads(count: int) -> list[bytes]:
    """`count` threads of three: a new message, a reply to it (References: the root), and a
    reply to the reply that names only its parent (In-Reply-To, no References): all new mail
    first, then the replies, then the replies to replies, as a busy mailbox would have them."""
    new, replies, again = [], [], []
    for n in range(count):
        root, reply = f"<root-{n}@example.com>", f"<reply-{n}@example.com>"
        new.append(_message(n, f"Case {n}", Message_ID=root))
        replies.append(_message(n, f"Re: Case {n}", Message_ID=reply, References=root))
        again.append(
            _message(n, f"Re: Case {n}", Message_ID=f"<again-{n}@example.com>", In_Reply_To=reply)
        )
    return new + replies + again


def _source(
    runtime: Runtime,
    fake_jira: FakeJira,
    app: RunningApp,
    dovecot: Dovecot,
    user: MailUser,
    **changes: object,
) -> int:
    assert fake_jira.install(app.base_url).status_code == 204
    tenant = runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None
    spec = dovecot_spec(dovecot, user, name="big").with_changes(**changes)
    source = runtime.sources.create(tenant.id, spec)
    runtime.sources.set_enabled(tenant.id, source.id, True)
    assert poll_source(runtime, source.id, owner="baseline").ok  # the cursor at the end
    return source.id


def _engine(runtime: Runtime, calls: _Calls, **settings: object) -> QueueEngine:
    def factory(rt: Runtime, tenant: Tenant) -> IssueTracker:
        return _SlowTracker(jira_tracker(rt, tenant), calls)  # type: ignore[return-value]

    options: dict[str, object] = {
        "outbound": False,
        "dispatch_every": 1,
        "heartbeat_seconds": 1,
        "stalled_seconds": 3,
        "concurrency": 4,
        **settings,
    }
    return QueueEngine(runtime, tracker_factory=factory, **options)  # type: ignore[arg-type]


def _finals(runtime: Runtime, tenant_id: int) -> dict[str, str]:
    """Final outcomes by subject and Message-ID."""
    entries = runtime.email_log.search(tenant_id, limit=1000)
    return {f"{e.subject} {e.message_id}": e.outcome for e in entries if e.final}


def _deliver_jobs(runtime: Runtime) -> list[tuple[int, str | None, int]]:
    with psycopg.connect(libpq_url(runtime.settings.database_url)) as connection:
        rows = connection.execute(
            "SELECT (args->>'entry_id')::int, lock, priority FROM procrastinate_jobs"
            " WHERE task_name = 'connector.deliver' AND status = 'todo' ORDER BY id"
        ).fetchall()
    return [(int(a), b, int(c)) for a, b, c in rows]


def test_two_workers_deliver_threads_in_parallel_each_in_order_then_mark_the_mail_read(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> None:
    fake_jira.add_project("SUP", "Support")
    runtime = running_app.runtime
    source_id = _source(runtime, fake_jira, running_app, dovecot, mail_user)
    tenant = runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None
    count = 6
    dovecot.deliver_files(mail_user, _threads(count))
    runtime.sources.record_poll(source_id, ok=True, message="", next_poll_at=utc_now())
    calls = _Calls()
    # Batches of 5: a reply is often fetched while its parent still waits in the queue.
    engines = [_engine(runtime, calls, batch=5) for _ in range(2)]
    with running(*engines):
        assert wait_for(lambda: len(_finals(runtime, tenant.id)) == 3 * count, 120)
        # The last final message queues a fetch, which marks them read.
        assert wait_for(lambda: all("\\Seen" in m.flags for m in dovecot.messages(mail_user)), 30)
    outcomes = _finals(runtime, tenant.id)
    # A reply delivered before its parent would have made an issue of its own.
    assert sorted(outcomes.values()) == sorted(
        [Outcome.CREATED] * count + [Outcome.COMMENTED] * 2 * count
    ), outcomes
    assert len(fake_jira.issue_keys()) == count
    assert calls.peak >= 2  # threads ran side by side
    with psycopg.connect(libpq_url(runtime.settings.database_url)) as connection:
        owed = connection.execute(
            "SELECT count(*) FROM email_log WHERE post_action_due OR claimed_until IS NOT NULL"
        ).fetchone()
    assert owed == (0,)


def test_a_message_is_processed_once_however_often_its_delivery_runs(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> None:
    fake_jira.add_project("SUP", "Support")
    runtime = running_app.runtime
    source_id = _source(runtime, fake_jira, running_app, dovecot, mail_user)
    dovecot.deliver_files(mail_user, _threads(1)[:1])
    calls = _Calls()
    engine = _engine(runtime, calls)
    _run(engine, lambda: engine._poll_job(source_id, FRESH))  # the fetch only: jobs queued
    jobs = _deliver_jobs(runtime)
    assert [(lock is not None, priority) for _, lock, priority in jobs] == [(True, FRESH)]
    entry_id = jobs[0][0]
    assert dovecot.messages(mail_user)[0].flags == frozenset()  # nothing done to it yet

    # A worker claimed it and died: its claim keeps everyone else off until it lapses.
    now = utc_now()
    assert runtime.deliveries.claim(entry_id, now, now + timedelta(seconds=1)) is not None
    busy = engine._deliverer.deliver(entry_id)
    assert busy.processed is None and busy.busy_until is not None
    time.sleep(1.1)
    # Two runs of its job at once (procrastinate put the stalled job back): one processes.
    results = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        results.append(engine._deliverer.deliver(entry_id))

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()
    processed = [r.processed for r in results if r.processed is not None]
    assert [p.outcome for p in processed if p is not None] == [Outcome.CREATED]
    assert engine._deliverer.deliver(entry_id).processed is None  # final: nothing more
    assert len(fake_jira.issue_keys()) == 1

    # The next fetch does the post-action owed, and nothing is queued again.
    _run(engine, lambda: engine._poll_job(source_id, FRESH))
    assert "\\Seen" in dovecot.messages(mail_user)[0].flags
    assert _deliver_jobs(runtime) == jobs  # the first job still waits; no second one


def test_a_message_whose_job_was_lost_is_queued_again_by_the_next_fetch(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> None:
    fake_jira.add_project("SUP", "Support")
    runtime = running_app.runtime
    source_id = _source(runtime, fake_jira, running_app, dovecot, mail_user)
    dovecot.deliver_files(mail_user, _threads(2)[:2])
    engine = _engine(runtime, _Calls())
    _run(engine, lambda: engine._poll_job(source_id, FRESH))
    queued = _deliver_jobs(runtime)
    assert len(queued) == 2
    with psycopg.connect(libpq_url(runtime.settings.database_url)) as connection:
        connection.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'connector.deliver'")
    _run(engine, lambda: engine._poll_job(source_id, FRESH))  # no new mail; the two again
    assert _deliver_jobs(runtime) == [(e, lock, FRESH) for e, lock, _ in queued]


def test_pop3_mail_is_deleted_by_the_fetch_that_follows_its_delivery(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> None:
    # POP3 numbers messages afresh in each session: the post-action finds the message by
    # its UIDL, stored in the message key, in the session of the next fetch.
    fake_jira.add_project("SUP", "Support")
    runtime = running_app.runtime
    pop3 = {"protocol": "pop3", "port": dovecot.ports.pop3s, "after_processing": "delete"}
    source_id = _source(runtime, fake_jira, running_app, dovecot, mail_user, **pop3)
    tenant = runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None
    dovecot.deliver_files(mail_user, _threads(2))
    runtime.sources.record_poll(source_id, ok=True, message="", next_poll_at=utc_now())
    with running(_engine(runtime, _Calls())):
        assert wait_for(lambda: len(_finals(runtime, tenant.id)) == 6, 60)
        assert wait_for(lambda: dovecot.messages(mail_user) == [], 30)
    assert sorted(_finals(runtime, tenant.id).values()) == sorted(
        [Outcome.CREATED] * 2 + [Outcome.COMMENTED] * 4
    )


@dataclass(frozen=True)
class _Pair:
    """A new message and a reply to it (one thread) in a source's mailbox."""

    runtime: Runtime
    tenant_id: int
    source_id: int

    def fetch(self, engine: QueueEngine) -> list[tuple[int, str | None, int]]:
        """The fetch alone: the delivery jobs it queued, the parent's first."""
        _run(engine, lambda: engine._poll_job(self.source_id, FRESH))
        return _deliver_jobs(self.runtime)

    def delivered_in_order(self, engine: QueueEngine, within: float = 60) -> None:
        """The engine delivers both; a reply delivered before its parent would have made an
        issue of its own."""
        with running(engine):
            assert wait_for(lambda: len(_finals(self.runtime, self.tenant_id)) == 2, within)
        outcomes = sorted(_finals(self.runtime, self.tenant_id).values())
        assert outcomes == [Outcome.COMMENTED, Outcome.CREATED]


def _pair(app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, user: MailUser) -> _Pair:
    fake_jira.add_project("SUP", "Support")
    source_id = _source(app.runtime, fake_jira, app, dovecot, user)
    tenant = app.runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None
    new, reply, _ = _threads(1)
    dovecot.deliver_files(user, [new, reply])
    return _Pair(app.runtime, tenant.id, source_id)


def test_a_reply_waits_while_a_dead_workers_claim_on_its_parent_lapses(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> None:
    pair = _pair(running_app, fake_jira, dovecot, mail_user)
    engine = _engine(pair.runtime, _Calls())
    (parent_id, lock, _), (_, reply_lock, _) = pair.fetch(engine)
    assert reply_lock == lock  # one thread
    now = utc_now()  # the parent's worker died holding it
    assert pair.runtime.deliveries.claim(parent_id, now, now + timedelta(seconds=2)) is not None
    pair.delivered_in_order(engine)


def test_a_reply_waits_for_its_parent_postponed_for_a_moment(
    running_app: RunningApp,
    fake_jira: FakeJira,
    dovecot: Dovecot,
    mail_user: MailUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Jira asks to wait a second before the parent's issue: its retry goes first in its
    # thread (`FIRST_IN_THREAD`), so the reply still finds the issue to comment on.
    monkeypatch.setattr("connector.pipeline.record.MIN_PAUSE_WAIT", timedelta(seconds=1))
    pair = _pair(running_app, fake_jira, dovecot, mail_user)
    calls = _Calls()
    calls.pause.add("Case 0")
    pair.runtime.sources.record_poll(pair.source_id, ok=True, message="", next_poll_at=utc_now())
    pair.delivered_in_order(_engine(pair.runtime, calls))
    assert calls.pause == set()  # the parent was paused once


def test_a_reply_whose_parents_job_was_lost_has_the_parent_delivered_first(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> None:
    # Nothing but the reply's own job is left (the parent's was lost, and no fetch is due
    # to queue it again): the reply stands back and queues its parent first.
    pair = _pair(running_app, fake_jira, dovecot, mail_user)
    engine = _engine(pair.runtime, _Calls())
    (parent_id, _, _), _ = pair.fetch(engine)
    with psycopg.connect(libpq_url(pair.runtime.settings.database_url)) as connection:
        connection.execute(
            "DELETE FROM procrastinate_jobs WHERE (args->>'entry_id')::int = %s", (parent_id,)
        )
    pair.delivered_in_order(engine)


def test_a_reply_queued_above_its_parent_has_the_parent_raised_and_delivered_first(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> None:
    # The reply's job waits at `FIRST_IN_THREAD` (queued there when a dead worker's claim on
    # it lapsed, say) and the parent's job at the fetch's priority: procrastinate runs the
    # reply's first, and would run it again and again (it stands back for its parent, at its
    # own priority) while the parent's job waited behind it, for about a quarter of an hour.
    pair = _pair(running_app, fake_jira, dovecot, mail_user)
    engine = _engine(pair.runtime, _Calls())
    (parent_id, lock, priority), (reply_id, _, _) = pair.fetch(engine)
    assert priority < FIRST_IN_THREAD
    with psycopg.connect(libpq_url(pair.runtime.settings.database_url)) as connection:
        connection.execute(
            "UPDATE procrastinate_jobs SET priority = %s WHERE (args->>'entry_id')::int = %s",
            (FIRST_IN_THREAD, reply_id),
        )
    assert _deliver_jobs(pair.runtime) == [
        (parent_id, lock, priority),
        (reply_id, lock, FIRST_IN_THREAD),
    ]
    pair.delivered_in_order(engine, within=20)
