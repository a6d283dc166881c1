"""A Jira Cloud site connected with an API token and no app install, end to end in Chromium
(issue 20): `connector site add`, `connector admin-link`, sign-in in a normal tab (no Jira
frame, no `AP`), a mail source set up in the wizard, mail become an issue, an agent's
comment mailed to the customer (read from Jira's changes), and the customer's reply back
on the issue.
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
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.sites_support import admin_link, connect_site, make_admin
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp import SmtpServer, support_connection

AGENT = "557058:agent-1"


def test_browser_site_without_install_signs_in_sets_up_and_answers_by_mail(
    browser: Browser,
    running_app: RunningApp,
    fake_jira: FakeJira,
    dovecot: Dovecot,
    mail_user: MailUser,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runtime = running_app.runtime
    fake_jira.add_project("SUP", "Support", issue_types=("Task",))
    fake_jira.add_user(AGENT, "agent@support.example", "Ada Agent")
    tenant, account_id = connect_site(monkeypatch, running_app, fake_jira)
    make_admin(fake_jira, account_id)
    link = admin_link(capsys, fake_jira.base_url)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = watch(page)
    try:
        sign_in(page, link, fake_jira.base_url)
        assert page.evaluate("typeof window.AP") == "undefined"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "site-01-signed-in.png"), full_page=True)

        # The tabs work without AP: to the wizard, and through it to an enabled source.
        set_up_source(page, dovecot, mail_user)
        page.screenshot(path=str(ARTIFACTS / "site-02-enabled.png"), full_page=True)
        runtime.outbound.save_connection(
            tenant.id, support_connection(smtp_server), password=smtp_server.password
        )

        # Mail arrives; "Poll now" makes the issue, as the site's account.
        dovecot.deliver(mail_user, customer_mail("Printer on fire", "Room 4."))
        row = source_row(page)
        row.get_by_role("button", name="Poll now").click()
        expect(row.locator(".row-message")).to_have_text("Polled: 1 created.")
        issue = fake_jira.issue("SUP-1")
        assert issue is not None and issue["fields"]["creator"]["accountId"] == account_id

        # An agent answers in Jira; the worker reads the change and mails the customer.
        fake_jira.add_agent_comment("SUP-1", _adf("A technician is on the way."), AGENT)
        runtime.sites.set_changes_read_until(tenant.id, utc_now() - timedelta(minutes=1))
        OutboundWorker(runtime).run_once()
        assert [d.recipients for d in smtp_server.delivered] == [(CUSTOMER,)]
        notification = smtp_server.delivered[0].message

        # The customer's reply comes back on the issue.
        reply = customer_mail(
            "Re: thanks", "Thank you!", In_Reply_To=str(notification["Message-ID"])
        )
        dovecot.deliver(mail_user, reply)
        row.get_by_role("button", name="Poll now").click()
        expect(row.locator(".row-message")).to_have_text("Polled: 1 commented.")
        page.screenshot(path=str(ARTIFACTS / "site-03-replied.png"), full_page=True)
        answered = fake_jira.issue("SUP-1")
        assert answered is not None
        comments = answered["fields"]["comment"]["comments"]
        assert "Thank you!" in str(comments[-1]["body"])
        assert fake_jira.issue_keys() == ["SUP-1"]

        # Signing out ends the session: the pages refuse the tab from then on.
        page.click("#sign-out")
        page.wait_for_url("**/site-signin")
        expect(page.locator("main")).to_contain_text("You are signed out.")
        refused = page.goto(f"{running_app.base_url}/api/v1/mail-sources")
        assert refused is not None and refused.status == 401
        assert problems == []
    finally:
        context.close()


def _adf(text: str) -> dict[str, object]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }
