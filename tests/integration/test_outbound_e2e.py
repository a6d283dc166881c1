"""Customers without Jira accounts hear back by mail, and their answers come back (issue 7).

Real servers: Dovecot receives the customer's mail, aiosmtpd receives our notifications, the
fake Jira creates issues and sends signed webhooks; the worker's outbound round runs in-line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session, select

from connector.mail.classify import LOOP_HEADER
from connector.outbound.compose import loop_header_value
from connector.outbound.worker import OutboundWorker
from connector.outbound_config import NotificationSettings
from connector.scheduler import Scheduler
from connector.storage.models import EmailLogRow
from connector.storage.outbound import OutboundRepository
from connector.storage.outbox import Outbox
from connector.storage.times import utc_now
from connector.storage.webhook_events import WebhookEvents
from connector.wiring import poll_source
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.mailbox_support import mail
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp import Delivered, SmtpServer, support_connection
from tests.servers.sources import dovecot_spec

AGENT = "557058:agent-1"
CUSTOMER = "jurgen@customer.example"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Outbound storage is checked on both backends in test_storage; one keeps this fast."""
    return sqlite_url


@dataclass
class Loop:
    app: RunningApp
    jira: FakeJira
    dovecot: Dovecot
    user: MailUser
    smtp: SmtpServer
    source_id: int
    worker: OutboundWorker

    @property
    def tenant_id(self) -> int:
        tenant = self.app.runtime.tenants.get(self.jira.client_key)
        assert tenant is not None
        return tenant.id

    def poll(self) -> dict[str, int]:
        result = poll_source(self.app.runtime, self.source_id, owner="test")
        assert result.ok, result.message
        return result.counts

    def deliver(self, raw: bytes) -> None:
        self.dovecot.deliver(self.user, raw)

    def webhook(self, event: str, issue_key: str, *, identifier: bool = True, **extra: Any) -> int:
        issue = self.jira.issue(issue_key)
        assert issue is not None
        payload = {
            "issue": {
                "id": issue["id"],
                "key": issue_key,
                "fields": {
                    "summary": issue["fields"]["summary"],
                    "project": {"key": issue_key.split("-")[0]},
                    "status": {"name": "Open"},
                },
            },
            **extra,
        }
        return self.jira.send_webhook(event, payload, identifier=identifier).status_code

    def events(self) -> list[Any]:
        return WebhookEvents(self.app.runtime.engine).search(self.tenant_id)

    def settings(self, **changes: Any) -> None:
        repository = OutboundRepository(self.app.runtime.engine, self.app.runtime.secrets)
        repository.save_settings(self.tenant_id, NotificationSettings(**changes))


@pytest.fixture
def loop(
    running_app: RunningApp,
    fake_jira: FakeJira,
    dovecot: Dovecot,
    mail_user: MailUser,
    smtp_server: SmtpServer,
) -> Iterator[Loop]:
    runtime = running_app.runtime
    assert fake_jira.install(running_app.base_url).status_code == 204
    fake_jira.add_project("SUP", "Support", issue_types=("Task",))
    fake_jira.add_user(AGENT, "agent@support.example", "Ada Agent")
    tenant = runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None
    spec = dovecot_spec(dovecot, mail_user)
    source = runtime.sources.create(tenant.id, spec)
    runtime.sources.set_enabled(tenant.id, source.id, True)
    OutboundRepository(runtime.engine, runtime.secrets).save_connection(
        tenant.id, support_connection(smtp_server), password=smtp_server.password
    )
    ready = Loop(
        running_app,
        fake_jira,
        dovecot,
        mail_user,
        smtp_server,
        source.id,
        OutboundWorker(runtime),
    )
    assert ready.poll() == {}
    yield ready


def _mail(
    subject: str, body: str, *, sender: str = f"Jürgen <{CUSTOMER}>", **headers: str
) -> bytes:
    return mail(subject, body, sender=sender, to="help@support.example", **headers).as_bytes()


def _adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def _first_message_id(raw: bytes) -> str:
    for line in raw.decode().splitlines():
        if line.lower().startswith("message-id:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no Message-ID")


def test_outbound_agent_comment_reaches_customer_and_reply_comes_back(loop: Loop) -> None:
    first = _mail("Printer on fire", "Room 4.", Cc="Boss <boss@customer.example>")
    loop.deliver(first)
    assert loop.poll() == {"created": 1}

    comment = loop.jira.add_agent_comment(
        "SUP-1", _adf("We sent a <technician> & a fire extinguisher."), AGENT
    )
    assert loop.webhook("comment_created", "SUP-1", comment=comment) == 204
    assert [e.status for e in loop.events()] == ["received"]
    result = loop.worker.run_once()
    assert (result.events, result.sent) == (1, 2), loop.events()

    delivered = {d.recipients: d for d in loop.smtp.delivered}
    assert set(delivered) == {(CUSTOMER,), ("boss@customer.example",)}
    mail: Delivered = delivered[(CUSTOMER,)]
    message = mail.message
    assert mail.login == loop.smtp.username
    assert message["Subject"] == "[SUP-1] Printer on fire"
    assert message["From"].addresses[0].addr_spec == "support@support.example"
    assert message["To"].addresses[0].addr_spec == CUSTOMER
    assert message["Reply-To"] == "help@support.example"
    assert message["Auto-Submitted"] == "auto-generated"
    tenant = loop.app.runtime.tenants.get(loop.jira.client_key)
    assert tenant is not None
    assert message[LOOP_HEADER] == loop_header_value("mail-connector", tenant.client_key)
    original = _first_message_id(first)
    assert message["In-Reply-To"] == original
    assert original in message["References"]
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert "We sent a <technician> & a fire extinguisher." in text.get_content()
    assert "Ada Agent" in text.get_content()
    assert "&lt;technician&gt; &amp; a fire" in html.get_content()
    assert "<technician>" not in html.get_content()
    sent = Outbox(loop.app.runtime.engine, loop.app.runtime.secrets).search(loop.tenant_id)
    assert {m.status for m in sent} == {"sent"}
    assert loop.events()[0].status == "handled"

    # The customer answers with a subject that names no issue: the Message-ID threads it.
    reply = _mail("Re: thanks", "Thank you, it is out.", In_Reply_To=str(message["Message-ID"]))
    loop.deliver(reply)
    assert loop.poll() == {"commented": 1}
    issue = loop.jira.issue("SUP-1")
    assert issue is not None
    comments = issue["fields"]["comment"]["comments"]
    assert len(comments) == 2
    assert "Thank you, it is out." in str(comments[1]["body"])
    assert loop.jira.issue_keys() == ["SUP-1"]

    # The app's own comment (from that mail) is never sent back, by its property or author.
    made = comments[1]
    assert loop.webhook("comment_created", "SUP-1", comment=made) == 204
    loop.worker.run_once()
    assert len(loop.smtp.delivered) == 2
    assert "app" in loop.events()[0].reason and loop.events()[0].status == "ignored"

    # Our own notification coming back (a forward rule) is dropped as a loop.
    loop.deliver(mail.raw)
    assert loop.poll() == {"ignored": 1}
    with Session(loop.app.runtime.engine) as session:
        reasons = [row.reason for row in session.exec(select(EmailLogRow)).all()]
    assert any(reason.startswith("own-loop") for reason in reasons)


def test_outbound_copied_agent_and_our_own_address_are_not_mailed(loop: Loop) -> None:
    # A customer copies an agent (a Jira user) and, by reply-all, our own sending address:
    # neither is a customer to notify, or we would mail Jira users and ourselves.
    loop.jira.add_user("557058:agent-2", "bob@support.example", "Bob Agent")
    copied = "Bob <bob@support.example>, support@support.example, boss@customer.example"
    loop.deliver(_mail("Copied", "See Cc.", Cc=copied))
    assert loop.poll() == {"created": 1}
    comment = loop.jira.add_agent_comment("SUP-1", _adf("On it."), AGENT)
    assert loop.webhook("comment_created", "SUP-1", comment=comment) == 204
    loop.worker.run_once()
    assert sorted(d.recipients for d in loop.smtp.delivered) == [
        ("boss@customer.example",),
        (CUSTOMER,),
    ]


def test_outbound_internal_comment_and_author_are_never_mailed(loop: Loop) -> None:
    loop.deliver(_mail("Broken chair", "The chair broke."))
    assert loop.poll() == {"created": 1}
    internal = loop.jira.add_agent_comment(
        "SUP-1", _adf("Customer is difficult"), AGENT, internal=True
    )
    assert loop.webhook("comment_created", "SUP-1", comment=internal) == 204
    # The webhook may not say it is internal; Jira's own answer does.
    quiet = {**internal}
    quiet.pop("jsdPublic", None)
    assert loop.webhook("comment_created", "SUP-1", comment=quiet) == 204
    loop.worker.run_once()
    assert loop.smtp.delivered == []
    assert [e.status for e in loop.events()] == ["ignored", "ignored"]
    assert all("internal" in e.reason for e in loop.events())

    # A customer-portal comment by the customer themselves: everyone but its author hears.
    loop.jira.add_user("qm:customer", CUSTOMER, "Jürgen", account_type="customer")
    own = loop.jira.add_agent_comment("SUP-1", _adf("Any news?"), "qm:customer")
    assert loop.webhook("comment_created", "SUP-1", comment=own) == 204
    loop.worker.run_once()
    assert loop.smtp.delivered == []
    assert "no participant" in loop.events()[0].reason


def test_outbound_status_change_and_project_switch(loop: Loop) -> None:
    loop.deliver(_mail("Login fails", "Cannot log in."))
    assert loop.poll() == {"created": 1}
    change: dict[str, Any] = {
        "changelog": {
            "items": [
                {"field": "status", "fieldId": "status", "fromString": "Open", "toString": "Done"}
            ]
        }
    }
    assert loop.webhook("jira:issue_updated", "SUP-1", **change) == 204
    assert loop.webhook("jira:issue_updated", "SUP-1") == 204  # no status change
    loop.worker.run_once()
    (mail,) = loop.smtp.delivered
    assert mail.message["Subject"] == "[SUP-1] Login fails is now Done"
    reasons = [e.reason for e in loop.events()]
    assert reasons[0] == "issue updated without a status change"

    loop.settings(
        projects={
            "SUP": __import__("connector.outbound_config", fromlist=["x"]).ProjectRule(
                enabled=False
            )
        }
    )
    assert loop.webhook("jira:issue_updated", "SUP-1", **change) == 204
    loop.worker.run_once()
    assert len(loop.smtp.delivered) == 1
    assert loop.events()[0].reason == "notifications are off for project SUP"


def test_outbound_status_change_redelivered_without_identifier_mails_once(loop: Loop) -> None:
    loop.deliver(_mail("Login fails", "Cannot log in."))
    assert loop.poll() == {"created": 1}
    change: dict[str, Any] = {
        "changelog": {
            "id": "10421",
            "items": [
                {"field": "status", "fieldId": "status", "fromString": "Open", "toString": "Done"}
            ],
        }
    }
    for _ in range(2):  # Jira delivers the same change twice, without its delivery id
        assert loop.webhook("jira:issue_updated", "SUP-1", identifier=False, **change) == 204
    loop.worker.run_once()
    assert len(loop.events()) == 2  # both deliveries are in the audit list
    (mail,) = loop.smtp.delivered
    assert mail.message["Subject"] == "[SUP-1] Login fails is now Done"
    assert sorted(e.reason for e in loop.events()) == [
        "already queued by an earlier delivery of this event",
        "queued 1 mail(s)",
    ]

    # A later change of the same issue is news again.
    again: dict[str, Any] = {"changelog": {**change["changelog"], "id": "10422"}}
    assert loop.webhook("jira:issue_updated", "SUP-1", identifier=False, **again) == 204
    loop.worker.run_once()
    assert len(loop.smtp.delivered) == 2


def test_outbound_bad_jwt_is_refused_and_changes_nothing(loop: Loop) -> None:
    loop.deliver(_mail("Noise", "Hello."))
    assert loop.poll() == {"created": 1}
    comment = loop.jira.add_agent_comment("SUP-1", _adf("Hi"), AGENT)
    loop.jira.shared_secret = "not-the-installed-secret-" + "x" * 40
    assert loop.webhook("comment_created", "SUP-1", comment=comment) == 401
    loop.worker.run_once()
    assert loop.events() == []
    assert loop.smtp.delivered == []


def test_outbound_acknowledgement_only_for_created_and_rate_limited(loop: Loop) -> None:
    loop.settings(acknowledgement=True, acknowledgement_per_hour=1)
    loop.deliver(_mail("First", "One."))
    loop.deliver(_mail("Out of office", "Away.", Auto_Submitted="auto-replied"))
    loop.deliver(_mail("Second", "Two."))
    assert loop.poll() == {"created": 2, "ignored": 1}
    loop.worker.run_once()
    (ack,) = loop.smtp.delivered
    assert ack.recipients == (CUSTOMER,)
    assert ack.message["Subject"] == "[SUP-1] First"
    assert ack.message["Auto-Submitted"] == "auto-generated"


def test_outbound_acknowledgement_a_scheduled_poll_queues_is_sent_at_once_not_next_tick(
    loop: Loop,
) -> None:
    loop.settings(acknowledgement=True)
    loop.deliver(_mail("Printer on fire", "Room 4."))
    scheduler = Scheduler(loop.app.runtime, tick_seconds=3600)
    scheduler.poll_soon(loop.source_id)
    # A tick starts the poll and no round (the loop would start one each tick, an hour
    # apart): the acknowledgement the poll queues starts one, which sends it.
    assert scheduler.tick(utc_now()) == [loop.source_id]
    assert scheduler.wait_idle()
    scheduler.outbound.join()
    (ack,) = loop.smtp.delivered
    assert ack.recipients == (CUSTOMER,)
    assert ack.message["Subject"] == "[SUP-1] Printer on fire"


def test_outbound_acknowledgement_template_running_away_fails_it_not_the_issue(
    loop: Loop,
) -> None:
    """Fine with the sample summary, so it passes its check; it spins for a real one."""
    spin = (
        "{% if summary != 'Printer on fire' %}{% for a in 'x' * 100000 %}"
        "{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}{% endif %}{{ issue_key }}"
    )
    loop.app.runtime.templates.check({"acknowledgement_text": spin}, tenant=loop.tenant_id)
    loop.settings(acknowledgement=True, templates={"acknowledgement_text": spin})
    loop.deliver(_mail("Login fails", "Cannot log in."))
    assert loop.poll() == {"created": 1}
    loop.deliver(_mail("Printer jammed", "Again.", sender="Kim <kim@customer.example>"))
    assert loop.poll() == {"created": 1}
    assert loop.jira.issue("SUP-1") is not None
    outbox = Outbox(loop.app.runtime.engine, loop.app.runtime.secrets)
    first, second = sorted(outbox.search(loop.tenant_id), key=lambda m: m.id)
    assert (first.issue_key, first.status) == ("SUP-1", "failed")
    assert first.error.startswith("template acknowledgement_text: took longer than 2 s to render")
    assert (second.issue_key, second.status) == ("SUP-2", "queued")  # with the defaults
    loop.worker.run_once()
    (ack,) = loop.smtp.delivered
    assert ack.recipients == ("kim@customer.example",)
    assert "We have received it as request SUP-2" in ack.raw.decode()
    fault = (
        OutboundRepository(loop.app.runtime.engine, loop.app.runtime.secrets)
        .settings(loop.tenant_id)
        .template_fault
    )
    assert fault is not None and fault.template == "acknowledgement_text"


def test_outbound_send_failure_retries_then_fails_and_retention_purges(loop: Loop) -> None:
    from datetime import timedelta

    from connector.storage.times import utc_now

    loop.deliver(_mail("Flaky", "Mail server trouble."))
    assert loop.poll() == {"created": 1}
    loop.smtp.refuse_next("451 4.3.0 try again later")
    comment = loop.jira.add_agent_comment("SUP-1", _adf("Working on it"), AGENT)
    assert loop.webhook("comment_created", "SUP-1", comment=comment) == 204
    loop.worker.run_once()
    outbox = Outbox(loop.app.runtime.engine, loop.app.runtime.secrets)
    (queued,) = outbox.search(loop.tenant_id)
    assert queued.status == "retry" and "451" in queued.error
    loop.worker.run_once(utc_now() + timedelta(minutes=2))
    (sent,) = outbox.search(loop.tenant_id)
    assert sent.status == "sent" and len(loop.smtp.delivered) == 1

    loop.settings(retention_days=0)
    assert loop.worker.purge_now() >= 2
    (purged,) = outbox.search(loop.tenant_id)
    assert not purged.content_kept
    with Session(loop.app.runtime.engine) as session:
        rows = session.exec(select(EmailLogRow)).all()
    assert rows and all(row.raw_encrypted is None for row in rows)
    assert all(row.subject for row in rows)  # the audit stays
