"""Notifications for a site connected with an API token or a Data Center personal access token
and no install (issue 20): Jira sends no webhooks there, so the worker reads the site's
changes; the same rules as for webhooks.

Real servers: Dovecot receives the customer's mail, aiosmtpd our notifications; the fake
Jira refuses JQL on our property (nothing indexes it without an install).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from connector.outbound.worker import OutboundWorker
from connector.runtime import Runtime
from connector.storage.times import utc_now
from connector.tenant import Tenant
from connector.wiring import poll_source
from tests.fakes.datacenter import FakeJiraDataCenter
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.mailbox_support import mail
from tests.integration.sites_support import connect_datacenter, connect_site
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp import SmtpServer, support_connection
from tests.servers.sources import dovecot_spec

AGENT = "557058:agent-1"
CUSTOMER = "jurgen@customer.example"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def _adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def _reply(in_reply_to: str, text: str) -> bytes:
    """The customer's answer to one of our notifications."""
    raw = mail(
        "Re: thanks",
        text,
        sender=f"Jürgen <{CUSTOMER}>",
        to="help@x.example",
        In_Reply_To=in_reply_to,
    )
    return raw.as_bytes()


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content()).replace("\r\n", "\n")


@dataclass(frozen=True)
class _Site:
    """A connected site's mailbox and notifications, driven by hand."""

    runtime: Runtime
    tenant_id: int
    source_id: int
    worker: OutboundWorker

    @classmethod
    def start(
        cls, runtime: Runtime, tenant: Tenant, dovecot: Dovecot, mail_user: MailUser,
        smtp_server: SmtpServer,
    ) -> _Site:  # fmt: skip
        """A source and an outbound connection; the first poll and the first pass of reading
        changes only mark where each starts."""
        source = runtime.sources.create(tenant.id, dovecot_spec(dovecot, mail_user))
        runtime.sources.set_enabled(tenant.id, source.id, True)
        runtime.outbound.save_connection(
            tenant.id, support_connection(smtp_server), password=smtp_server.password
        )
        site = cls(runtime, tenant.id, source.id, OutboundWorker(runtime))
        assert site.poll() == {}
        site.worker.run_once()
        assert runtime.sites.changes_read_until(tenant.id) is not None
        return site

    def poll(self) -> dict[str, int]:
        result = poll_source(self.runtime, self.source_id, owner="test")
        assert result.ok, result.message
        return result.counts

    def read_changes(self) -> None:
        # As if the last pass was a while ago (passes are a minute apart).
        since = utc_now() - timedelta(minutes=1)
        self.runtime.sites.set_changes_read_until(self.tenant_id, since)
        self.worker.run_once()


def test_site_changes_notify_customers_once_never_internal_never_our_own(
    running_app: RunningApp,
    fake_jira: FakeJira,
    dovecot: Dovecot,
    mail_user: MailUser,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = running_app.runtime
    fake_jira.add_project("SUP", "Support", issue_types=("Task",))
    fake_jira.add_user(AGENT, "agent@support.example", "Ada Agent")
    tenant, _ = connect_site(monkeypatch, running_app, fake_jira)
    site = _Site.start(runtime, tenant, dovecot, mail_user, smtp_server)
    poll, read_changes = site.poll, site.read_changes
    raw = mail("Printer on fire", "Room 4.", sender=f"Jürgen <{CUSTOMER}>", to="help@x.example")
    dovecot.deliver(mail_user, raw.as_bytes())
    assert poll() == {"created": 1}

    fake_jira.add_agent_comment("SUP-1", _adf("A technician is on the way."), AGENT)
    fake_jira.add_agent_comment("SUP-1", _adf("Customer is difficult"), AGENT, internal=True)
    read_changes()
    assert [d.recipients for d in smtp_server.delivered] == [(CUSTOMER,)]
    message = smtp_server.delivered[0].message
    assert message["Subject"] == "[SUP-1] Printer on fire"
    text = message.get_body(("plain",))
    assert text is not None and "A technician is on the way." in text.get_content()
    events = runtime.webhook_events.search(tenant.id)
    assert sorted((e.status, e.delivery_id or "") for e in events)[0][0] == "handled"
    assert any(e.status == "ignored" and "internal" in e.reason for e in events)

    # Reading the same changes again (the overlap, another worker) mails nobody twice.
    read_changes()
    assert len(smtp_server.delivered) == 1

    # A status change in Jira reaches the customer too.
    fake_jira.change_status("SUP-1", "Done", AGENT)
    read_changes()
    assert [d.recipients for d in smtp_server.delivered] == [(CUSTOMER,), (CUSTOMER,)]
    assert "Done" in _text(smtp_server.delivered[1].message)

    # The customer's reply becomes a comment made from mail: it is never sent back.
    dovecot.deliver(mail_user, _reply(str(message["Message-ID"]), "Thank you, it is out."))
    assert poll() == {"commented": 1}
    read_changes()
    assert len(smtp_server.delivered) == 2
    newest = max(runtime.webhook_events.search(tenant.id), key=lambda e: e.id)
    assert newest.status == "ignored" and "app" in newest.reason


def test_datacenter_site_changes_mail_jira_rendering_of_wiki_comments(
    running_app: RunningApp,
    fake_datacenter: FakeJiraDataCenter,
    dovecot: Dovecot,
    mail_user: MailUser,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Data Center, comments are wiki markup: the mail shows the HTML Jira rendered of it
    (`renderedBody`), sanitised, and its text; REST v2 only, the same rules as on Cloud."""
    runtime = running_app.runtime
    fake_datacenter.add_user("ada", "agent@support.example", "Ada Agent")
    tenant = connect_datacenter(monkeypatch, running_app, fake_datacenter)
    site = _Site.start(runtime, tenant, dovecot, mail_user, smtp_server)
    poll, read_changes = site.poll, site.read_changes
    raw = mail("Printer on fire", "Room 4.", sender=f"Jürgen <{CUSTOMER}>", to="help@x.example")
    dovecot.deliver(mail_user, raw.as_bytes())
    assert poll() == {"created": 1}

    fake_datacenter.add_agent_comment("SUP-1", "On the way.\n\nSay <b>hi</b> & wait.", "ada")
    read_changes()
    assert [d.recipients for d in smtp_server.delivered] == [(CUSTOMER,)]
    message = smtp_server.delivered[0].message
    text = message.get_body(("plain",))
    assert text is not None
    assert "On the way.\n\nSay <b>hi</b> & wait." in text.get_content().replace("\r\n", "\n")
    html = message.get_body(("html",))
    assert html is not None
    assert "<p>Say &lt;b&gt;hi&lt;/b&gt; &amp; wait.</p>" in html.get_content()

    fake_datacenter.change_status("SUP-1", "Done", "ada")
    read_changes()
    assert len(smtp_server.delivered) == 2
    assert "Done" in _text(smtp_server.delivered[1].message)

    dovecot.deliver(mail_user, _reply(str(message["Message-ID"]), "Thank you."))
    assert poll() == {"commented": 1}
    read_changes()
    assert len(smtp_server.delivered) == 2  # our own comment is never sent back
    assert all(c.path.startswith("/rest/api/2/") for c in fake_datacenter.requests_log)
    assert fake_datacenter.validation_failures == []
