"""The outbound worker's sending round against a real SMTP server (aiosmtpd): one broken
message never stops the round, two workers never send one message twice, a round keeps to its
time budget, and nothing leaves once the admin turned outbound off or the site stopped the
app."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage

import pytest

from connector.outbound import worker as worker_module
from connector.outbound.delivery import MailSender, Steps
from connector.outbound.worker import OutboundWorker, RoundResult, stored_sender
from connector.outbound_config import NotificationSettings
from connector.runtime import Runtime
from connector.storage import outbox as outbox_module
from connector.storage.outbound import OutboundRepository
from connector.storage.outbox import NewMessage, OutboundMessage, Outbox
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import AdminApi, connect_outbound, make_admin_api
from tests.integration.conftest import RunningApp
from tests.servers.smtp import SmtpServer


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def api(running_app: RunningApp, fake_jira: FakeJira, smtp_server: SmtpServer) -> AdminApi:
    admin = make_admin_api(running_app, fake_jira)
    connect_outbound(admin, smtp_server)
    return admin


def _repository(api: AdminApi) -> OutboundRepository:
    return OutboundRepository(api.app.runtime.engine, api.app.runtime.secrets)


def _outbox(api: AdminApi) -> Outbox:
    return Outbox(api.app.runtime.engine, api.app.runtime.secrets)


def _queue(api: AdminApi, count: int) -> list[str]:
    recipients = [f"customer{n}@customer.example" for n in range(count)]
    queue_notifications(_outbox(api), api.tenant_id, recipients)
    return recipients


def queue_notifications(outbox: Outbox, tenant_id: int, recipients: list[str]) -> list[int]:
    """Queue a notification to each recipient (an issue each); their ids."""
    ids = []
    for n, recipient in enumerate(recipients):
        message = EmailMessage()
        message["From"] = "notify@support.example"
        message["To"] = recipient
        message["Subject"] = f"[SUP-{n}] Update"
        message["Message-ID"] = f"<m{n}.{tenant_id}@support.example>"
        message.set_content("Your request changed.")
        queued = outbox.enqueue(
            NewMessage(
                tenant_id=tenant_id,
                kind="notification",
                dedupe_key=f"k{n}",
                recipient=recipient,
                subject=str(message["Subject"]),
                message_id=str(message["Message-ID"]),
                raw=message.as_bytes(),
                issue_key=f"SUP-{n}",
            )
        )
        assert queued is not None
        ids.append(queued.id)
    return ids


def _messages(api: AdminApi) -> dict[str, OutboundMessage]:
    return {m.recipient: m for m in _outbox(api).search(api.tenant_id, limit=200)}


class _Wrapped:
    """The stored sender, with something done first (a slow server, or a crash)."""

    def __init__(self, inner: MailSender, before: Callable[[EmailMessage], None]) -> None:
        self._inner = inner
        self._before = before

    def send(self, message: EmailMessage, steps: Steps | None = None) -> None:
        self._before(message)
        self._inner.send(message, steps)


def _factory(before: Callable[[EmailMessage], None]) -> Callable[[Runtime, int], MailSender]:
    def build(runtime: Runtime, tenant_id: int) -> MailSender:
        return _Wrapped(stored_sender(runtime, tenant_id), before)

    return build


def test_outbound_worker_one_crashing_message_fails_alone_and_the_round_goes_on(
    api: AdminApi, smtp_server: SmtpServer
) -> None:
    first, second = _queue(api, 2)

    def crash_on_first(message: EmailMessage) -> None:
        if message["To"] == first:
            raise RuntimeError("template variable changed type")

    _repository(api).save_settings(api.tenant_id, NotificationSettings(retention_days=0))
    worker = OutboundWorker(api.app.runtime, sender_factory=_factory(crash_on_first))
    result = worker.run_once()
    assert (result.sent, result.failed) == (1, 1)
    messages = _messages(api)
    assert messages[first].status == "failed"
    assert "RuntimeError: template variable changed type" in messages[first].error
    assert messages[second].status == "sent"
    assert [d.recipients for d in smtp_server.delivered] == [(second,)]
    assert result.purged >= 2  # the retention purge still ran


def test_outbound_worker_unusable_stored_host_fails_the_message_with_the_reason(
    api: AdminApi, smtp_server: SmtpServer
) -> None:
    """A host saved before names were checked: every round used to raise, leaving the mail
    `sending` forever; now the message fails once, with words the admin can act on."""
    connect_outbound(api, smtp_server, host="smtp..example.com", port=587)
    (recipient,) = _queue(api, 1)
    result = OutboundWorker(api.app.runtime).run_once()
    assert result.failed == 1
    failed = _messages(api)[recipient]
    assert failed.status == "failed" and failed.attempts == 1
    assert "smtp..example.com" in failed.error and "not valid" in failed.error


def test_outbound_two_workers_racing_send_each_message_once(
    api: AdminApi, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slow sends outlast a short lease: a batch claimed up front expired while it waited,
    and the second worker sent it again. Claimed one at a time and renewed before sending,
    every message goes out once."""
    monkeypatch.setattr(outbox_module, "LEASE", timedelta(seconds=2))
    recipients = _queue(api, 6)
    slow = _factory(lambda _: time.sleep(0.5))
    first = OutboundWorker(api.app.runtime, sender_factory=slow)
    second = OutboundWorker(api.app.runtime, sender_factory=slow)
    racing = threading.Thread(target=first.run_once)
    racing.start()
    time.sleep(2.3)  # the first worker is mid-round; anything it leased up front has expired
    second.run_once()
    racing.join(30)
    delivered = sorted(r for d in smtp_server.delivered for r in d.recipients)
    assert delivered == sorted(recipients)
    assert {m.status for m in _messages(api).values()} == {"sent"}


def test_outbound_round_keeps_to_its_time_budget(
    api: AdminApi, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "ROUND_BUDGET", timedelta(seconds=0.3))
    _queue(api, 3)
    worker = OutboundWorker(api.app.runtime, sender_factory=_factory(lambda _: time.sleep(0.5)))
    assert worker.run_once().sent == 1
    assert sorted(m.status for m in _messages(api).values()) == ["queued", "queued", "sent"]
    assert worker.run_once().sent == 1


def test_outbound_round_asked_to_send_soon_while_it_runs_goes_round_once_more(
    running_app: RunningApp,
) -> None:
    worker = OutboundWorker(running_app.runtime)
    began, release = threading.Event(), threading.Event()
    rounds: list[int] = []

    def round_(*args: object, **kwargs: object) -> RoundResult:
        rounds.append(len(rounds))
        began.set()
        release.wait(10)
        return RoundResult()

    worker.run_once = round_  # type: ignore[method-assign]
    assert worker.start_round()
    assert began.wait(10)
    assert not worker.start_round()  # a tick meanwhile: the running round is enough
    worker.send_soon()  # mail queued meanwhile, which the round may have looked for already
    worker.send_soon()
    release.set()
    worker.join()
    assert rounds == [0, 1]  # once more, however often asked
    assert worker.start_round()  # over: the next tick starts one
    worker.join()


def test_outbound_server_asking_to_wait_holds_that_tenants_other_mail_this_round(
    api: AdminApi, smtp_server: SmtpServer
) -> None:
    _queue(api, 3)
    smtp_server.refuse_next("451 4.3.0 try again later")
    result = OutboundWorker(api.app.runtime).run_once()
    assert (result.retried, result.sent) == (1, 0)
    assert sorted(m.status for m in _messages(api).values()) == ["queued", "queued", "retry"]
    assert smtp_server.delivered == []


def test_outbound_nothing_leaves_after_outbound_is_turned_off(
    api: AdminApi, smtp_server: SmtpServer
) -> None:
    (recipient,) = _queue(api, 1)
    connect_outbound(api, smtp_server, enabled=False)
    assert OutboundWorker(api.app.runtime).run_once().failed == 1
    held = _messages(api)[recipient]
    assert held.status == "failed" and held.error == "not sent: outbound mail was turned off"
    assert smtp_server.delivered == []

    # Turned on again, the admin's retry sends it.
    connect_outbound(api, smtp_server)
    assert _outbox(api).retry(api.tenant_id, held.id) is not None
    assert OutboundWorker(api.app.runtime).run_once().sent == 1
    assert [d.recipients for d in smtp_server.delivered] == [(recipient,)]


@pytest.mark.parametrize("stop", ["disable", "uninstall"])
def test_outbound_nothing_leaves_once_the_site_stops_the_app(
    api: AdminApi, smtp_server: SmtpServer, stop: str
) -> None:
    (recipient,) = _queue(api, 1)
    tenant_id = api.tenant_id
    assert getattr(api.jira, stop)().status_code == 204
    assert OutboundWorker(api.app.runtime).run_once().failed == 1
    (held,) = _outbox(api).search(tenant_id)
    assert held.recipient == recipient and held.status == "failed"
    assert "disabled or uninstalled" in held.error
    assert smtp_server.delivered == []
