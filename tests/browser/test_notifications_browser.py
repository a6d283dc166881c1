"""Outbound mail and address rules in a real browser: the notifications page against a real SMTP
server (aiosmtpd), and the address-rule editor of a mail source with its route check. Each
state is saved as a screenshot under test-artifacts/browser/ (after the wizard's, 20 onwards).
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import servers_required

if importlib.util.find_spec("playwright") is None:
    reason = "the playwright package is not installed (uv sync installs it)"
    if servers_required():
        raise ImportError(f"{reason} (REQUIRE_SERVERS=1)")
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import expect

from connector.outbound_config import TemplateFault
from connector.storage.outbound import OutboundRepository
from connector.storage.outbox import NewMessage, Outbox
from connector.storage.times import utc_now
from connector.storage.webhook_events import WebhookEvents
from tests.browser.conftest import AdminBrowser
from tests.servers.smtp import SmtpServer

# Markup in what mail and mail servers give us: the page must show it as text, never run it.
HOSTILE_SUBJECT = '[SUP-7] Printer <img src=x onerror="window.__injected=1"> fixed'
HOSTILE_NAME = "<script>window.__injected=2</script> Jürgen"
HOSTILE_ERROR = "550 5.1.1 <b>no such user</b>"
IGNORED_REASON = "the comment was made by the app itself from mail"
PASTED_HEADERS = """Delivered-To: billing@example.com
To: Support <support@example.com>
From: Jo Customer <jo@customer.example>
Subject: Invoice 42 is wrong
Message-ID: <invoice-42@customer.example>"""


def _audit_rows(admin: AdminBrowser) -> int:
    """One Jira event that was not acted on, and one notification the server refused."""
    runtime = admin.api.app.runtime
    tenant_id = admin.api.tenant_id
    event, _ = WebhookEvents(runtime.engine).record(
        tenant_id,
        delivery_id="delivery-1",
        event="comment_created",
        facts={"issue_key": "SUP-7", "comment_id": "10001"},
        status="ignored",
        reason=IGNORED_REASON,
    )
    outbox = Outbox(runtime.engine, runtime.secrets)
    queued = outbox.enqueue(
        NewMessage(
            tenant_id=tenant_id,
            kind="notification",
            dedupe_key="comment-10001-jurgen",
            recipient="jurgen@customer.example",
            recipient_name=HOSTILE_NAME,
            subject=HOSTILE_SUBJECT,
            message_id="<notify-1@support.example>",
            raw=b"Subject: fixed\r\n\r\nWe fixed it.\r\n",
            issue_key="SUP-7",
            event_id=event.id,
        )
    )
    assert queued is not None
    outbox.finish(queued.id, "failed", HOSTILE_ERROR)
    return queued.id


def _connect_and_test(admin: AdminBrowser, smtp: SmtpServer) -> None:
    page = admin.page
    admin.open("/pages/notifications")
    status = page.locator("#connection-status .lozenge")
    expect(status).to_have_text("Not used yet")
    form = page.locator("#connection-form")
    form.locator("[name=security]").select_option("starttls")
    form.locator("[name=host]").fill(smtp.host)
    form.locator("[name=port]").fill(str(smtp.port))
    form.locator("[name=verify_tls]").uncheck()  # the test server's certificate is self-signed
    form.locator("[name=username]").fill(smtp.username)
    form.locator("[name=password]").fill(smtp.password)
    form.locator("[name=from_address]").fill("support@example.com")
    form.locator("[name=from_name]").fill("Example Support")
    page.click("#connection-save")
    expect(page.locator("#page-message")).to_contain_text("Saved the outbound connection")
    expect(form.locator("[name=password]")).to_have_value("")  # write-only: never shown back
    expect(form.locator("[name=password]")).to_have_attribute(
        "placeholder", "Stored: leave empty to keep it"
    )
    expect(status).to_have_text("Not used yet")

    page.click("#connection-test")  # no recipient yet: refused beside that input
    expect(form.locator('[data-error-for="to"]')).to_contain_text("email address")
    form.locator("[name=to]").fill("admin@example.com")
    page.click("#connection-test")
    diagnosis = page.locator("#connection-diagnosis")
    expect(diagnosis).to_contain_text("All checks passed.")
    for step in ("configure", "connect", "tls", "authenticate", "send"):
        expect(diagnosis.locator(f"li[data-step={step}].ok")).to_be_visible()
    expect(status).to_have_text("OK")
    delivered = smtp.delivered
    assert [d.recipients for d in delivered] == [("admin@example.com",)]
    assert delivered[0].login == smtp.username
    admin.screenshot("20-notifications-connection-ok")


def _notification_settings(admin: AdminBrowser) -> None:
    page = admin.page
    settings = page.locator("#settings-form")
    subject = settings.locator('[name="templates.comment_subject"]')
    page.locator("details[data-template=comment_subject] summary").click()
    subject.fill("[{{ issue_key }] {{ summary }}")
    # The admin is told the same days purge stored incoming mail, and what that costs.
    expect(page.locator("#s-retention-help")).to_contain_text("and to incoming mail")
    expect(page.locator("#s-retention-help")).to_contain_text("can no longer be retried")
    settings.locator("[name=retention_days]").fill("7")
    page.click("#settings-save")
    error = settings.locator('[data-error-for="templates.comment_subject"]')
    expect(error).to_contain_text("TemplateSyntaxError")
    expect(subject).to_have_class("invalid")
    admin.screenshot("21-notifications-template-error")

    subject.fill("[{{ issue_key }}] {{ summary }} (answered)")
    page.select_option("#project-add-key", "SUP")
    page.click("#project-add")
    settings.locator('[name="projects.SUP.events"][value=issue_status]').uncheck()
    page.click("#settings-save")
    expect(page.locator("#page-message")).to_have_text("Saved the notification settings.")
    expect(error).to_be_empty()
    saved = admin.api.call("GET", "/notification-settings").json()
    assert saved["retention_days"] == 7
    assert saved["templates"] == {"comment_subject": "[{{ issue_key }}] {{ summary }} (answered)"}
    assert saved["projects"] == {"SUP": {"enabled": True, "events": ["comment_created"]}}


def _template_error(admin: AdminBrowser) -> None:
    """A saved template that failed as mail was sent: the page says so until it is saved."""
    runtime = admin.api.app.runtime
    fault = TemplateFault("comment_subject", "took longer than 2 s to render", utc_now(), "SUP-9")
    OutboundRepository(runtime.engine, runtime.secrets).turn_off_templates(
        admin.api.tenant_id, fault
    )
    page = admin.page
    admin.open("/pages/notifications")
    banner = page.locator("#template-error")
    expect(banner).to_contain_text("Custom templates are off.")
    expect(banner).to_contain_text("comment_subject failed just now for SUP-9")
    slot = page.locator('[data-error-for="templates.comment_subject"]')
    expect(slot).to_have_text("took longer than 2 s to render")
    expect(page.locator("details[data-template=comment_subject]")).to_have_attribute("open", "")
    admin.screenshot("21-notifications-template-off")
    page.click("#settings-save")
    expect(page.locator("#page-message")).to_have_text("Saved the notification settings.")
    expect(banner).to_be_hidden()
    assert admin.api.call("GET", "/notification-settings").json()["template_error"] is None


def _audit_lists(admin: AdminBrowser, failed_id: int) -> None:
    page = admin.page
    event = page.locator("#events-body tr").first
    expect(event).to_contain_text("Comment added")
    expect(event.locator(".reason")).to_have_text(IGNORED_REASON)
    expect(event.get_by_role("link", name="SUP-7")).to_have_attribute(
        "href", f"{admin.api.jira.base_url}/browse/SUP-7"
    )
    row = page.locator(f"#messages-body tr[data-message-id='{failed_id}']")
    expect(row.locator(".subject")).to_have_text(HOSTILE_SUBJECT)
    expect(row.locator(".sender")).to_contain_text(f"{HOSTILE_NAME} <jurgen@customer.example>")
    expect(row.locator(".reason")).to_have_text(HOSTILE_ERROR)
    expect(row.locator(".lozenge")).to_have_text("failed")
    assert page.locator("#messages-panel img, #messages-panel b, main script").count() == 0
    assert page.evaluate("window.__injected") is None
    admin.screenshot("22-notifications-audit")
    row.get_by_role("button", name="Retry").click()
    expect(row.locator(".lozenge")).to_have_text("queued")
    expect(row.get_by_role("button", name="Retry")).to_have_count(0)
    expect(page.locator("#page-message")).to_contain_text("is queued again")


def test_browser_outbound_connection_settings_and_audit(
    admin_browser: AdminBrowser, smtp_server: SmtpServer
) -> None:
    failed_id = _audit_rows(admin_browser)
    _connect_and_test(admin_browser, smtp_server)
    _notification_settings(admin_browser)
    _template_error(admin_browser)
    _audit_lists(admin_browser, failed_id)
    admin_browser.assert_no_server_errors()


def test_browser_address_rule_edited_checked_saved_and_listed(
    admin_browser: AdminBrowser,
) -> None:
    admin = admin_browser
    page = admin.page
    admin.api.jira.add_project("BIL", "Billing", issue_types=("Task", "Bug"))
    source = admin.api.create()
    admin.open("/pages/admin")
    page.locator("#sources-body tr", has_text="Support inbox").get_by_role(
        "button", name="Edit"
    ).click()
    expect(page.locator("#rules-empty")).to_be_visible()

    rules = page.locator("#rules > li")
    page.click("#rule-add")
    rules.nth(0).locator("[data-part=pattern]").fill("billing@example.com")
    rules.nth(0).locator("[data-part=project_key]").fill("BIL")
    # The assignee is picked from Jira's users by name, not typed as an account id.
    admin.api.jira.add_user("557058:bea", "bea@example.com", "Bea Billing")
    rules.nth(0).get_by_role("searchbox", name="Find the assignee among Jira users").fill("bea")
    assignee = rules.nth(0).get_by_role("combobox", name="Assignee")
    expect(assignee.locator("option", has_text="Bea Billing")).to_have_count(1)
    assignee.select_option(label="Bea Billing <bea@example.com>")
    page.click("#rule-add")
    rules.nth(1).locator("[data-part=match]").select_option("regex")
    rules.nth(1).locator("[data-part=pattern]").fill("(unclosed")
    rules.nth(1).get_by_role("button", name="Move up").click()
    expect(rules.nth(0).locator(".rule-title")).to_have_text("Rule 1")
    expect(rules.nth(0).locator("[data-part=pattern]")).to_have_value("(unclosed")

    # The check tries the rules as edited: the broken one is named beside its pattern.
    page.fill("#route-headers", PASTED_HEADERS)
    page.click("#route-check")
    broken = page.locator('[data-error-for="address_rules[0].pattern"]')
    expect(broken).to_contain_text("Not a regular expression")
    admin.screenshot("23-sources-rule-error")
    rules.nth(0).get_by_role("button", name="Remove").click()
    expect(rules).to_have_count(1)
    page.click("#route-check")
    expect(broken).to_be_empty()
    expect(page.locator("#route-decided")).to_have_text("Rule 1 (billing@example.com → BIL)")
    result = page.locator("#route-result")
    expect(result).to_contain_text("billing@example.com (Delivered-To)")
    expect(result).to_contain_text("create an issue in BIL as Task")
    expect(page.locator("#route-trail li").first).to_be_visible()
    admin.screenshot("24-sources-route-check")

    page.locator("#edit-form").get_by_role("button", name="Save").click()
    expect(page.locator("#page-message")).to_have_text("Saved Support inbox.")
    expect(page.locator("#sources-body tr", has_text="Support inbox")).to_contain_text(
        "+ 1 address rule"
    )
    saved = admin.api.call("GET", f"/mail-sources/{source['id']}").json()
    assert [(r["match"], r["pattern"], r["project_key"]) for r in saved["address_rules"]] == [
        ("exact", "billing@example.com", "BIL")
    ]
    assert saved["address_rules"][0]["defaults"]["default_assignee"] == "557058:bea"
    assert saved["unrouted"] == "source"

    # The project's tab names the address that feeds it.
    admin.open("/pages/project-settings?projectKey=BIL&projectId=10001")
    feed = page.locator("#feeds-body tr", has_text="Support inbox")
    expect(feed).to_contain_text("mail to billing@example.com → Task")
    admin.screenshot("25-project-settings-address")
    admin.assert_no_server_errors()


def test_browser_stored_outbound_password_removed_after_confirmation(
    admin_browser: AdminBrowser,
) -> None:
    admin = admin_browser
    page = admin.page
    saved = admin.api.call(
        "PUT",
        "/outbound-connection",
        json={
            "host": "smtp.example.com",
            "username": "mailer",
            "password": "Outbound-Secret-1",
            "from_address": "support@example.com",
        },
    )
    assert saved.status_code == 200 and saved.json()["has_password"] is True, saved.text
    admin.open("/pages/notifications")
    stored = page.locator("#password-stored")
    expect(stored).to_contain_text("A password is stored")
    confirm = page.locator("#password-remove-confirm")
    expect(confirm).to_be_hidden()

    # Still signing in with it: the confirmation warns, and the API's refusal is shown.
    page.click("#password-remove")
    expect(confirm).to_be_visible()
    expect(page.locator("#password-remove-warning")).to_be_visible()
    admin.screenshot("26-notifications-remove-password-confirm")
    page.click("#password-remove-yes")
    form = page.locator("#connection-form")
    expect(form.locator('[data-error-for="password"]')).to_contain_text("is required")
    assert admin.api.call("GET", "/outbound-connection").json()["has_password"] is True

    # Another way to sign in chosen: "Keep it" changes nothing, confirming removes it.
    form.locator("[name=auth]").select_option("none")
    page.click("#password-remove")
    expect(page.locator("#password-remove-warning")).to_be_hidden()
    page.click("#password-remove-no")
    expect(confirm).to_be_hidden()
    assert admin.api.call("GET", "/outbound-connection").json()["has_password"] is True
    page.click("#password-remove")
    page.click("#password-remove-yes")
    expect(page.locator("#page-message")).to_contain_text("Removed the stored password.")
    expect(stored).to_be_hidden()
    expect(form.locator("[name=password]")).to_have_attribute("placeholder", "")
    after = admin.api.call("GET", "/outbound-connection").json()
    assert (after["has_password"], after["auth"]) == (False, "none")
    admin.screenshot("27-notifications-password-removed")
    admin.assert_no_server_errors()
