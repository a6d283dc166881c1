"""A Jira Data Center server connected with a personal access token, end to end in Chromium
(issue 20): `connector site add --pat-env`, `connector admin-link`, sign-in in a normal tab,
a mail source set up in the wizard over REST v2, mail become an issue in wiki markup, an
agent's comment mailed to the customer (read from the server's changes), the customer's
reply back as a comment.
"""

from __future__ import annotations

import importlib.util
from datetime import timedelta

import pytest

from tests.conftest import servers_required

if importlib.util.find_spec("playwright") is None:
    reason = "the playwright package is not installed (uv sync installs it)"
    if servers_required():
        raise ImportError(f"{reason} (REQUIRE_SERVERS=1)")
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Browser, expect

from connector.outbound.worker import OutboundWorker
from connector.storage.times import utc_now
from tests.browser.conftest import ARTIFACTS
from tests.browser.site_support import (
    CUSTOMER,
    customer_mail,
    set_up_source,
    sign_in,
    source_row,
    watch,
)
from tests.fakes.datacenter import FakeJiraDataCenter
from tests.integration.conftest import RunningApp
from tests.integration.sites_support import SERVICE_USER, admin_link, connect_datacenter
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp import SmtpServer, support_connection


def test_browser_datacenter_site_signs_in_sets_up_and_answers_by_mail(
    browser: Browser,
    running_app: RunningApp,
    fake_datacenter: FakeJiraDataCenter,
    dovecot: Dovecot,
    mail_user: MailUser,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runtime = running_app.runtime
    fake_datacenter.add_user("ada", "agent@support.example", "Ada Agent")
    tenant = connect_datacenter(monkeypatch, running_app, fake_datacenter)
    fake_datacenter.set_permissions(
        SERVICE_USER, "BROWSE_PROJECTS", "CREATE_ISSUES", "ADD_COMMENTS", "ADMINISTER"
    )
    link = admin_link(capsys, fake_datacenter.base_url)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = watch(page)
    try:
        sign_in(page, link, fake_datacenter.base_url)
        set_up_source(page, dovecot, mail_user, workaround_step=False)  # PAT looks users up
        runtime.outbound.save_connection(
            tenant.id, support_connection(smtp_server), password=smtp_server.password
        )

        # Mail becomes an issue, its text escaped into wiki markup.
        mail = customer_mail("Printer on fire", "Room 4, see [this|x] *now*.")
        dovecot.deliver(mail_user, mail)
        row = source_row(page)
        row.get_by_role("button", name="Poll now").click()
        expect(row.locator(".row-message")).to_have_text("Polled: 1 created.")
        issue = fake_datacenter.issue("SUP-1")
        assert issue is not None and issue["reporter"] == SERVICE_USER
        assert "see \\[this\\|x\\] \\*now\\*." in issue["fields"]["description"]

        # An agent answers in Jira; the worker reads the change and mails the customer.
        fake_datacenter.add_agent_comment("SUP-1", "A technician is on the way.", "ada")
        runtime.sites.set_changes_read_until(tenant.id, utc_now() - timedelta(minutes=1))
        OutboundWorker(runtime).run_once()
        assert [d.recipients for d in smtp_server.delivered] == [(CUSTOMER,)]
        notification = smtp_server.delivered[0].message
        text = notification.get_body(("plain",))
        assert text is not None and "A technician is on the way." in text.get_content()

        # The customer's reply comes back on the issue.
        reply = customer_mail(
            "Re: thanks", "Thank you!", In_Reply_To=str(notification["Message-ID"])
        )
        dovecot.deliver(mail_user, reply)
        row.get_by_role("button", name="Poll now").click()
        expect(row.locator(".row-message")).to_have_text("Polled: 1 commented.")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "datacenter-replied.png"), full_page=True)
        answered = fake_datacenter.issue("SUP-1")
        assert answered is not None
        assert answered["comments"][-1]["body"].endswith("Thank you\\!")  # "!" opens an image
        assert fake_datacenter.issue_keys() == ["SUP-1"]
        assert all(c.path.startswith("/rest/api/2/") for c in fake_datacenter.requests_log)
        assert fake_datacenter.validation_failures == []
        assert problems == []
    finally:
        context.close()
