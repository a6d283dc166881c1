"""Outbound mail as jobs on PostgreSQL (`connector.engine.sends`): the round queues one send
job per due message, workers send each message once however often its job runs or however
many workers there are, one tenant's mail goes one message at a time while other tenants'
goes beside it, and a failing server's mail waits with the round's backoff while others go.
Also, on either database, what `connector serve`'s web app does beside its engine (an admin's
"Poll now", a Jira event it records) tells the engine, so the mail leaves at once.

Real PostgreSQL and real SMTP servers (aiosmtpd); Dovecot and the fake Jira where an event
makes the mail."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import Engine

from connector.admin.poll_start import PollInBackground
from connector.engine import WorkEngine, uses_task_queue
from connector.engine.queue import FRESH, QueueEngine
from connector.outbound.delivery import MailSender, Steps
from connector.outbound.worker import stored_sender
from connector.outbound_config import ConnectionSpec
from connector.retry import OUTBOUND
from connector.runtime import Runtime
from connector.scheduler import Scheduler
from connector.storage.db import libpq_url, make_engine, migrate
from connector.storage.outbox import OutboundMessage
from connector.storage.times import utc_now
from tests.integration.admin_support import outbound_body
from tests.integration.test_outbound_e2e import AGENT, CUSTOMER, Loop, _adf, loop  # noqa: F401
from tests.integration.test_outbound_e2e import _mail as customer_mail
from tests.integration.test_outbound_worker import queue_notifications
from tests.integration.test_queue_delivery import _deliver_jobs
from tests.integration.test_queue_engine import _run
from tests.integration.test_scheduler import _runtime, _tenant
from tests.integration.worker_support import running, wait_for
from tests.servers.smtp import SmtpServer, running_smtp


@pytest.fixture
def runtime(postgres_url: str, encryption_key: str) -> Iterator[Runtime]:
    engine: Engine = make_engine(postgres_url)
    migrate(engine)
    yield _runtime(engine, encryption_key)
    engine.dispose()


def _site(runtime: Runtime, name: str, server: SmtpServer) -> int:
    """A site whose outbound mail goes to `server`."""
    tenant_id = _tenant(runtime, name)
    spec = ConnectionSpec(**outbound_body(server))
    runtime.outbound.save_connection(tenant_id, spec, password=server.password)
    return tenant_id


def _mail(runtime: Runtime, tenant_id: int, count: int) -> list[int]:
    """Queue `count` mails of the site, each to its own recipient; their ids."""
    recipients = [f"customer{n}@site{tenant_id}.example" for n in range(count)]
    return queue_notifications(runtime.outbox, tenant_id, recipients)


def _message(runtime: Runtime, tenant_id: int, message_id: int) -> OutboundMessage:
    message = runtime.outbox.get(tenant_id, message_id)
    assert message is not None
    return message


def _send_jobs(runtime: Runtime) -> list[tuple[int, str | None, str | None]]:
    """The send jobs in the queue: message id, lock, queueing lock."""
    with psycopg.connect(libpq_url(runtime.settings.database_url)) as connection:
        rows = connection.execute(
            "SELECT (args->>'message_id')::int, lock, queueing_lock FROM procrastinate_jobs"
            " WHERE task_name = 'connector.send' ORDER BY id"
        ).fetchall()
    return [(int(a), b, c) for a, b, c in rows]


def _engine(runtime: Runtime, **settings: object) -> QueueEngine:
    options: dict[str, object] = {
        "dispatch_every": 1,
        "heartbeat_seconds": 1,
        "stalled_seconds": 3,
        "concurrency": 4,
        **settings,
    }
    return QueueEngine(runtime, **options)  # type: ignore[arg-type]


def _recipients(server: SmtpServer) -> Counter[str]:
    return Counter(r for delivered in server.delivered for r in delivered.recipients)


def test_send_job_sends_a_due_mail_once_and_records_it_sent(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    tenant_id = _site(runtime, "site-a", smtp_server)
    (message_id,) = _mail(runtime, tenant_id, 1)
    engine = _engine(runtime)
    sends = engine.sends
    assert sends is not None
    # The round queues a job for the due mail, and one only however often it looks.
    assert _run(engine, sends.round) == 1
    assert _run(engine, sends.round) == 0
    assert _send_jobs(runtime) == [(message_id, f"outbound-{tenant_id}", f"send-{message_id}")]
    assert smtp_server.delivered == []  # the round itself sends nothing

    with running(engine):
        assert wait_for(lambda: _message(runtime, tenant_id, message_id).status == "sent", 30)
        time.sleep(1.5)  # further rounds: nothing is due any more
    sent = _message(runtime, tenant_id, message_id)
    assert (sent.attempts, sent.sent_at is not None) == (1, True)
    assert _recipients(smtp_server) == Counter({sent.recipient: 1})
    assert _send_jobs(runtime) == []  # done and deleted; none queued again


def test_send_job_run_twice_sends_once(runtime: Runtime, smtp_server: SmtpServer) -> None:
    tenant_id = _site(runtime, "site-a", smtp_server)
    (message_id,) = _mail(runtime, tenant_id, 1)
    engine = _engine(runtime)
    sends = engine.sends
    assert sends is not None

    async def twice_at_once() -> list[str | None]:
        return list(await asyncio.gather(sends.send(message_id), sends.send(message_id)))

    # Two runs of its job at once (a stalled worker's job put back while it still ran),
    # and once more afterwards: the claim lets one send.
    assert Counter(_run(engine, twice_at_once)) == Counter(["sent", None])
    assert _run(engine, lambda: sends.send(message_id)) is None
    assert _message(runtime, tenant_id, message_id).status == "sent"
    assert len(smtp_server.delivered) == 1


def test_send_job_leaves_a_mail_another_worker_holds(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    # A worker claimed the mail and died mid-send: its lease keeps the job's re-run off.
    tenant_id = _site(runtime, "site-a", smtp_server)
    (message_id,) = _mail(runtime, tenant_id, 1)
    assert runtime.outbox.claim(message_id, utc_now()) is not None
    engine = _engine(runtime)
    sends = engine.sends
    assert sends is not None
    assert _run(engine, lambda: sends.send(message_id)) is None
    assert _run(engine, sends.round) == 0  # held, not due: no job queued for it
    assert smtp_server.delivered == []
    assert _message(runtime, tenant_id, message_id).status == "sending"


class _Slow:
    """The stored sender, slowed down; notes how many sends of each site run at once."""

    def __init__(self, inner: MailSender, tenant_id: int, seen: _Overlaps) -> None:
        self._inner = inner
        self._tenant_id = tenant_id
        self._seen = seen

    def send(self, message: EmailMessage, steps: Steps | None = None) -> None:
        with self._seen.sending(self._tenant_id):
            time.sleep(0.2)
            self._inner.send(message, steps)


class _Overlaps:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: Counter[int] = Counter()
        self.peak_site = 0  # most sends of one site at once
        self.peak = 0  # most sends at once

    @contextmanager
    def sending(self, tenant_id: int) -> Iterator[None]:
        with self.lock:
            self.running[tenant_id] += 1
            self.peak_site = max(self.peak_site, self.running[tenant_id])
            self.peak = max(self.peak, sum(self.running.values()))
        try:
            yield
        finally:
            with self.lock:
                self.running[tenant_id] -= 1


def test_two_workers_send_every_sites_mail_exactly_once(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    sites = [_site(runtime, f"site-{n}", smtp_server) for n in range(3)]
    mail = {tenant_id: _mail(runtime, tenant_id, 4) for tenant_id in sites}
    seen = _Overlaps()

    def slow(rt: Runtime, tenant_id: int) -> MailSender:
        return _Slow(stored_sender(rt, tenant_id), tenant_id, seen)

    engines = [_engine(runtime, sender_factory=slow) for _ in range(2)]

    def statuses() -> set[str]:
        return {_message(runtime, t, m).status for t, ids in mail.items() for m in ids}

    with running(*engines):
        assert wait_for(lambda: statuses() == {"sent"}, 60)
        time.sleep(1.5)  # further rounds: nothing is sent again
    expected = {f"customer{n}@site{t}.example" for t in sites for n in range(4)}
    assert _recipients(smtp_server) == Counter({recipient: 1 for recipient in expected})
    assert seen.peak_site == 1  # one site's mail one at a time (its lock)...
    assert seen.peak >= 2  # ...beside other sites' mail


def test_failing_server_mail_is_retried_with_backoff_while_others_go(
    runtime: Runtime, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    with running_smtp(tmp_path / "failing") as failing:
        failing.refuse_next("451 4.3.0 try again later")  # once: the retry is taken
        down = _site(runtime, "site-down", failing)
        up = _site(runtime, "site-up", smtp_server)
        (waiting,) = _mail(runtime, down, 1)
        going = _mail(runtime, up, 3)
        engine = _engine(runtime)
        started = utc_now()
        with running(engine):
            assert wait_for(
                lambda: (
                    _message(runtime, down, waiting).status == "retry"
                    and {_message(runtime, up, m).status for m in going} == {"sent"}
                ),
                30,
            )
            time.sleep(1.5)  # further rounds: the retry is not due yet
        retried = _message(runtime, down, waiting)
        assert retried.attempts == 1
        assert "451" in retried.error
        assert retried.next_attempt_at is not None
        backoff = OUTBOUND.delay(1)
        assert started + backoff <= retried.next_attempt_at <= utc_now() + backoff
        assert failing.delivered == []
        assert len(smtp_server.delivered) == 3

        # Its time comes (the server takes mail again): a round queues it, a job sends it.
        _due_now(runtime, waiting)
        with running(_engine(runtime)):
            assert wait_for(lambda: _message(runtime, down, waiting).status == "sent", 30)
        assert _message(runtime, down, waiting).attempts == 2
        assert len(failing.delivered) == 1


def _due_now(runtime: Runtime, message_id: int) -> None:
    """Its backoff has passed (as if a minute went by)."""
    with psycopg.connect(libpq_url(runtime.settings.database_url)) as connection:
        connection.execute(
            "UPDATE outbound_messages SET next_attempt_at = %s WHERE id = %s",
            (utc_now() - timedelta(seconds=1), message_id),
        )


def _agent_comment(loop: Loop) -> dict[str, Any]:  # noqa: F811
    """A customer's new request made SUP-1, and an agent commented on it: the comment."""
    loop.deliver(customer_mail("Printer on fire", "Room 4."))
    assert loop.poll() == {"created": 1}
    return loop.jira.add_agent_comment("SUP-1", _adf("A technician is on the way."), AGENT)


def _event_recorded(loop: Loop) -> None:  # noqa: F811
    """Jira told the app of the agent's comment (`_agent_comment`); nothing decided it yet."""
    assert loop.webhook("comment_created", "SUP-1", comment=_agent_comment(loop)) == 204
    assert [e.status for e in loop.events()] == ["received"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_mail_an_event_makes_is_queued_to_send_as_soon_as_it_is_decided(
    loop: Loop,  # noqa: F811
) -> None:
    _event_recorded(loop)
    runtime = loop.app.runtime
    engine = _engine(runtime)
    sends = engine.sends
    assert sends is not None
    # Nothing was due when the round began: its send job comes from deciding the event,
    # not from the next round.
    assert _run(engine, sends.round) == 1
    assert [e.status for e in loop.events()] == ["handled"]
    ((message_id, lock, _),) = _send_jobs(runtime)
    assert lock == f"outbound-{loop.tenant_id}"
    assert loop.smtp.delivered == []
    assert _run(engine, lambda: sends.send(message_id)) == "sent"
    assert [d.recipients for d in loop.smtp.delivered] == [(CUSTOMER,)]


@pytest.fixture
def acknowledging(loop: Loop) -> Loop:  # noqa: F811
    """Acknowledgements on, and a customer's new request in the mailbox."""
    loop.settings(acknowledgement=True)
    loop.deliver(customer_mail("Printer on fire", "Room 4."))
    return loop


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_acknowledgement_a_delivery_queues_has_its_send_job_queued_by_that_delivery(
    acknowledging: Loop,
) -> None:
    mail = acknowledging
    runtime = mail.app.runtime
    engine = _engine(runtime)
    sends = engine.sends
    assert sends is not None
    _run(engine, lambda: engine._poll_job(mail.source_id, FRESH))  # the fetch: one delivery
    ((entry_id, lock, _),) = _deliver_jobs(runtime)
    assert _send_jobs(runtime) == []
    # No round runs: the delivery that made the issue queues its acknowledgement's send.
    _run(engine, lambda: engine._delivery_jobs.run(entry_id, lock, FRESH))
    ((message_id, send_lock, _),) = _send_jobs(runtime)
    assert send_lock == f"outbound-{mail.tenant_id}"
    assert _message(runtime, mail.tenant_id, message_id).kind == "acknowledgement"
    assert _run(engine, sends.round) == 0  # its job waits: the round queues no second one
    assert _run(engine, lambda: sends.send(message_id)) == "sent"
    assert [d.recipients for d in mail.smtp.delivered] == [(CUSTOMER,)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_acknowledgement_goes_out_with_no_outbound_round_at_all(acknowledging: Loop) -> None:
    # Workers fetch, deliver and send; the periodic round does nothing, as if its next tick
    # were far off: the acknowledgement leaves all the same, once.
    mail = acknowledging
    runtime = mail.app.runtime
    engines = [_engine(runtime) for _ in range(2)]
    rounds = 0

    async def no_round() -> int:
        nonlocal rounds
        rounds += 1
        return 0

    for engine in engines:
        assert engine.sends is not None
        engine.sends.round = no_round  # type: ignore[method-assign]
    runtime.sources.record_poll(mail.source_id, ok=True, message="", next_poll_at=utc_now())
    with running(*engines):
        assert wait_for(lambda: len(mail.smtp.delivered) == 1, 30)
        time.sleep(1.5)  # further jobs and rounds: it is not sent again
    (ack,) = mail.smtp.delivered
    assert ack.recipients == (CUSTOMER,)
    assert ack.message["Subject"] == "[SUP-1] Printer on fire"
    assert rounds > 0  # the rounds ran, and queued nothing
    assert _send_jobs(runtime) == []


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_acknowledgement_of_an_admins_poll_now_leaves_at_once_not_at_the_rounds_tick(
    acknowledging: Loop,
) -> None:
    # `connector serve` runs the admin's "Poll now" on a thread beside its engine; the engine's
    # outbound round does nothing here (its tick far off): the acknowledgement the poll
    # queues is sent all the same, once, because the poll tells the engine.
    mail = acknowledging
    runtime = mail.app.runtime
    engine: WorkEngine
    if uses_task_queue(runtime.settings.database_url):
        queue = _engine(runtime)
        assert queue.sends is not None

        async def no_round() -> int:
            return 0

        queue.sends.round = no_round  # type: ignore[method-assign]
        engine = queue
    else:
        engine = Scheduler(runtime, push=False, tick_seconds=3600)
    polls = PollInBackground(mail_queued=engine.mail_queued)
    with running(engine):
        polls.start(runtime, mail.source_id)
        assert wait_for(lambda: len(mail.smtp.delivered) == 1, 30)
        time.sleep(1.0)  # nothing sends it twice
    polls.shutdown()
    (ack,) = mail.smtp.delivered
    assert ack.recipients == (CUSTOMER,)
    assert ack.message["Subject"] == "[SUP-1] Printer on fire"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_webhook_event_is_decided_and_its_mail_sent_at_once_by_the_engine_in_the_process(
    loop: Loop,  # noqa: F811
) -> None:
    # `connector serve` (SQLite): the web app that records a Jira event tells the engine
    # beside it, whose outbound round otherwise ticks only once an hour here.
    comment = _agent_comment(loop)
    scheduler = Scheduler(loop.app.runtime, push=False, tick_seconds=3600)
    with running(scheduler):
        loop.app.state.scheduler = scheduler
        assert loop.webhook("comment_created", "SUP-1", comment=comment) == 204
        assert wait_for(lambda: len(loop.smtp.delivered) == 1, 20)
        assert [e.status for e in loop.events()] == ["handled"]
        # An event Jira sends again is not news: no second mail.
        assert loop.webhook("comment_created", "SUP-1", comment=comment) == 204
        time.sleep(1.0)
        loop.app.state.scheduler = None
    assert [d.recipients for d in loop.smtp.delivered] == [(CUSTOMER,)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_webhook_event_queues_one_outbound_round_at_once_on_postgresql(loop: Loop) -> None:  # noqa: F811
    # The engine in the web app's process is told of the event (`QueueEngine.events_recorded`):
    # a round is queued now, beside the periodic ones, and one at most waits in the queue.
    _event_recorded(loop)
    runtime = loop.app.runtime
    engine = _engine(runtime)
    sends = engine.sends
    assert sends is not None
    assert _run(engine, sends.round_soon) is True
    assert _run(engine, sends.round_soon) is False
    with psycopg.connect(libpq_url(runtime.settings.database_url)) as connection:
        rounds = connection.execute(
            "SELECT count(*) FROM procrastinate_jobs"
            " WHERE task_name = 'connector.outbound' AND status = 'todo'"
        ).fetchone()
    assert rounds == (1,)
    with running(engine):  # the queued round decides the event; its mail is sent
        assert wait_for(lambda: len(loop.smtp.delivered) == 1, 30)
    assert [e.status for e in loop.events()] == ["handled"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_round_that_cannot_be_queued_at_once_is_logged_and_left_to_the_periodic_one(
    loop: Loop,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    _event_recorded(loop)
    engine = _engine(loop.app.runtime)
    sends = engine.sends
    assert sends is not None

    async def unreachable() -> bool:
        raise ConnectionError("the database went away")

    queue_round = sends.round_soon
    sends.round_soon = unreachable  # type: ignore[method-assign]
    with running(engine), caplog.at_level(logging.WARNING, logger="connector.engine.queue"):
        assert wait_for(lambda: engine._loop is not None, 10)
        engine.events_recorded()
        assert wait_for(lambda: "engine.queue_soon_failed" in caplog.text, 10)
        assert "job=round" in caplog.text and "the database went away" in caplog.text
        sends.round_soon = queue_round  # type: ignore[method-assign]
        # The periodic round decides the event all the same.
        assert wait_for(lambda: len(loop.smtp.delivered) == 1, 30)
