"""Mail sources and the email log in a real browser, past the wizard's happy path: editing a
source with Jira's project and issue-type pickers (and typing when Jira cannot list them),
retrying a failed message from the email log, and enabling a source over a backlog larger
than the threshold. Screenshots under test-artifacts/browser/ (30 onwards)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import servers_required

if importlib.util.find_spec("playwright") is None:
    reason = "the playwright package is not installed (uv sync installs it)"
    if servers_required():
        raise ImportError(f"{reason} (REQUIRE_SERVERS=1)")
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import expect

from connector.admin.source_actions import ACKNOWLEDGE_ABOVE
from connector.outcomes import Outcome
from tests.browser.conftest import AdminBrowser
from tests.integration.admin_support import dovecot_body
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.messages import build_message


def _enabled_dovecot_source(admin: AdminBrowser, dovecot: Dovecot, user: MailUser) -> int:
    """A source on the test Dovecot, enabled (its position set at the end of the mailbox)."""
    source = admin.api.create(**dovecot_body(dovecot, user))
    enabled = admin.api.call("POST", f"/mail-sources/{source['id']}/enable")
    assert enabled.status_code == 200, enabled.text
    source_id: int = source["id"]
    return source_id


def _take_expected_problem(admin: AdminBrowser, fragment: str, count: int = 1) -> None:
    """A 502 the test caused on purpose (Jira refusing) is not a page failure; others are.

    Waits (up to 10 s) until all `count` of them have arrived: the page's requests answer in
    their own time, and one that lands after the check would be taken for a page failure."""

    def expected() -> list[str]:
        return [p for p in admin.problems if p.startswith("HTTP 502") and fragment in p]

    deadline = time.monotonic() + 10
    while len(expected()) < count and time.monotonic() < deadline:
        admin.page.wait_for_timeout(50)  # lets the browser deliver its responses
    taken = expected()
    assert len(taken) == count, admin.problems
    admin.problems[:] = [p for p in admin.problems if p not in taken]


def test_browser_edit_source_picks_project_and_issue_type_from_jira(
    admin_browser: AdminBrowser,
) -> None:
    admin = admin_browser
    page = admin.page
    jira = admin.api.jira
    jira.add_project("OPS", "Operations", issue_types=("Incident", "Task"))
    source = admin.api.create()  # SUP, Task
    admin.open("/pages/admin")
    row = page.locator("#sources-body tr", has_text="Support inbox")
    row.get_by_role("button", name="Edit").click()

    form = page.locator("#edit-form")
    project = form.locator("select[name=project_key]")
    issue_type = form.locator("select[name=issue_type]")
    expect(project).to_be_enabled()
    expect(project).to_have_value("SUP")
    expect(project.locator("option")).to_have_text(["Operations (OPS)", "Support (SUP)"])
    expect(issue_type).to_be_enabled()
    expect(issue_type).to_have_value("Task")
    expect(issue_type.locator("option")).to_have_text(["Task", "Bug"])
    project.select_option("OPS")
    expect(issue_type.locator("option")).to_have_text(["Incident", "Task"])
    expect(issue_type).to_have_value("Task")  # the same type, since OPS has it too
    issue_type.select_option("Incident")
    admin.screenshot("30-sources-edit-jira-pickers")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#page-message")).to_have_text("Saved Support inbox.")
    expect(row).to_contain_text("OPS · Incident")
    saved = admin.api.call("GET", f"/mail-sources/{source['id']}").json()
    assert (saved["project_key"], saved["issue_type"]) == ("OPS", "Incident")

    # Jira cannot list the projects: the key stays as it is, typed, and the page says why.
    # (The address rules below ask for the list too: both are refused.)
    jira.inject_fault(403, times=2, method="GET", path_contains="/project/search")
    row.get_by_role("button", name="Edit").click()
    typed = form.locator("input[name=project_key]")
    expect(typed).to_have_value("OPS")
    expect(form.locator("[data-note-for=project_key]")).to_contain_text(
        "Jira's project list could not be loaded"
    )
    expect(issue_type).to_have_value("Incident")  # OPS's types still came from Jira
    _take_expected_problem(admin, "/jira/projects", count=2)

    # Nor the issue types of the project typed next: the type is typed too.
    jira.inject_fault(403, method="GET", path_contains="createmeta/SUP")
    typed.fill("SUP")
    typed.press("Tab")  # leaving the field is when a typed key counts
    typed_type = form.locator("input[name=issue_type]")
    expect(typed_type).to_have_value("Incident")
    expect(form.locator("[data-note-for=issue_type]")).to_contain_text(
        "Jira's issue types for SUP could not be loaded"
    )
    typed_type.fill("Bug")
    admin.screenshot("31-sources-edit-typed-when-jira-unavailable")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#page-message")).to_have_text("Saved Support inbox.")
    saved = admin.api.call("GET", f"/mail-sources/{source['id']}").json()
    assert (saved["project_key"], saved["issue_type"]) == ("SUP", "Bug")
    _take_expected_problem(admin, "/issue-types")
    admin.assert_no_server_errors()


def test_browser_failed_message_retried_from_email_log_becomes_created(
    admin_browser: AdminBrowser, dovecot: Dovecot, mail_user: MailUser
) -> None:
    admin = admin_browser
    page = admin.page
    jira = admin.api.jira
    source_id = _enabled_dovecot_source(admin, dovecot, mail_user)
    dovecot.deliver(mail_user, build_message("Invoice 42 is wrong"))
    # Jira refuses the new issue in a way no retry mends: the message is quarantined.
    jira.inject_fault(400, method="POST", path_contains="/rest/api/3/issue")
    polled = admin.api.poll(source_id)
    assert polled["counts"] == {"failed": 1}, polled

    # The list does not say OK over a failure: a warning, and the way to the message.
    admin.open("/pages/admin")
    row = page.locator("#sources-body tr", has_text="Support inbox")
    expect(row.locator(".lozenge")).to_have_text("Warning")
    expect(row.locator(".status-message")).to_contain_text("could not process 1 message")
    row.get_by_role("link", name="1 failed message in the email log").click()
    navigations = page.evaluate("window.__navigations")
    assert navigations[-1]["customData"] == {"source_id": str(source_id), "outcome": "failed"}
    admin.screenshot("31b-sources-last-poll-failed")

    # Jira opens the log with those filters as `ac.` parameters.
    admin.open(f"/pages/email-log?ac.source_id={source_id}&ac.outcome=failed")
    expect(page.locator("#filter-outcome")).to_have_value("failed")
    expect(page.locator("#filter-source")).to_have_value(str(source_id))
    entry = page.locator("#log-body tr", has_text="Invoice 42 is wrong")
    expect(entry.locator(".lozenge")).to_have_text("failed")
    expect(entry.locator(".reason")).not_to_be_empty()
    expect(entry.get_by_role("link")).to_have_count(0)
    # Failed rows can be picked for a retry of many at once.
    expect(page.locator("#retry-selected")).to_be_disabled()
    page.get_by_role("checkbox", name="Select every failed message shown").check()
    expect(entry.get_by_role("checkbox")).to_be_checked()
    expect(page.locator("#retry-selected")).to_be_enabled()
    entry.get_by_role("checkbox").uncheck()
    expect(page.locator("#retry-selected")).to_be_disabled()
    entry.get_by_role("button", name="Details").click()
    retry = page.locator("#entry-retry")
    expect(retry).to_be_visible()
    admin.screenshot("32-email-log-failed")

    # Jira refused it: retry is offered, but second to fixing the cause; the original is there.
    expect(retry).to_have_text("Retry after fixing the cause")
    expect(page.locator("#entry-retry-help")).to_contain_text("fix what the reason says")
    with page.expect_download() as downloaded:
        page.click("#entry-download")
    assert downloaded.value.suggested_filename.endswith("-Invoice-42-is-wrong.eml")
    assert b"Subject: Invoice 42 is wrong" in Path(downloaded.value.path()).read_bytes()

    jira.clear_faults()  # the cause is fixed in Jira
    retry.click()
    expect(page.locator("#page-message")).to_contain_text("is queued again")
    expect(page.locator("#entry-facts")).to_contain_text("pending")
    expect(retry).to_be_hidden()
    page.select_option("#filter-outcome", "")  # no longer failed: shown under all outcomes
    expect(entry.locator(".lozenge")).to_have_text("pending")
    admin.screenshot("33-email-log-retry-queued")

    # The source's next poll (here: "Poll now") sends it again.
    admin.open("/pages/admin")
    row.get_by_role("button", name="Poll now").click()
    expect(row.locator(".row-message")).to_have_text("Polled: 1 created.")
    admin.open("/pages/email-log")
    expect(entry.locator(".lozenge")).to_have_text("created")
    expect(entry.get_by_role("link", name="SUP-1")).to_have_attribute(
        "href", f"{jira.base_url}/browse/SUP-1"
    )
    assert jira.issue_keys() == ["SUP-1"]
    admin.screenshot("34-email-log-retried-created")
    admin.assert_no_server_errors()


def test_browser_enable_over_backlog_threshold_needs_acknowledgement(
    admin_browser: AdminBrowser, dovecot: Dovecot, mail_user: MailUser
) -> None:
    admin = admin_browser
    page = admin.page
    source_id = _enabled_dovecot_source(admin, dovecot, mail_user)
    path = f"/mail-sources/{source_id}"
    assert admin.api.call("POST", f"{path}/disable").status_code == 200
    waiting = ACKNOWLEDGE_ABOVE + 1
    dovecot.deliver_files(mail_user, [build_message(f"while off {n}") for n in range(waiting)])

    admin.open("/pages/admin")
    row = page.locator("#sources-body tr", has_text="Support inbox")
    row.get_by_role("button", name="Enable").click()
    estimate = page.locator("#enable-estimate")
    expect(estimate).to_contain_text(
        f"{waiting} messages arrived while it was off, more than {ACKNOWLEDGE_ABOVE}"
    )
    acknowledge = page.locator("#enable-acknowledge")
    confirm = page.locator("#enable-confirm")
    expect(acknowledge).to_be_visible()
    expect(confirm).to_be_disabled()
    expect(page.locator("#enable-skip")).to_be_visible()
    still: dict[str, Any] = admin.api.call("GET", path).json()
    assert still["enabled"] is False
    admin.screenshot("35-sources-enable-backlog-estimate")

    acknowledge.check()
    with page.expect_request(lambda r: r.url.endswith(f"{path}/enable")) as sent:
        confirm.click()
    assert sent.value.post_data_json == {"acknowledge": True}
    expect(page.locator("#page-message")).to_have_text(
        f"Enabled Support inbox: {waiting} waiting messages will be processed."
    )
    expect(page.locator("#enable-panel")).to_be_hidden()
    expect(row.get_by_role("button", name="Disable")).to_be_visible()
    assert admin.api.call("GET", path).json()["enabled"] is True
    admin.screenshot("36-sources-enabled-after-acknowledgement")
    admin.assert_no_server_errors()


def test_browser_what_would_this_mail_become_for_pasted_and_uploaded_messages(
    admin_browser: AdminBrowser, tmp_path: Path
) -> None:
    admin = admin_browser
    page = admin.page
    admin.api.create()
    admin.open("/pages/admin")
    row = page.locator("#sources-body tr", has_text="Support inbox")
    row.get_by_role("button", name="Try a message").click()
    panel = page.locator("#preview-panel")
    expect(panel).to_be_visible()
    panel.get_by_role("button", name="Show what it would become").click()
    expect(page.locator("#preview-message")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#preview-message-error")).to_have_text(
        "Paste a message or choose an .eml file."
    )

    page.fill(
        "#preview-message",
        "From: Jo <jo@customer.example>\nTo: support@example.com\nCc: Max <max@customer.example>\n"
        "Subject: Printer on fire\nMessage-ID: <p1@customer.example>\n\n"
        "The printer in room 4 is on fire.\n\n-- \nJo, Facilities\n",
    )
    panel.get_by_role("button", name="Show what it would become").click()
    facts = page.locator("#preview-facts")
    expect(facts).to_contain_text("A new issue in SUP")
    expect(facts).to_contain_text("Max <max@customer.example>")
    text = page.locator("#preview-text")
    expect(text).to_contain_text("The printer in room 4 is on fire.")
    expect(text).not_to_contain_text('"type"')  # what agents read, not the ADF
    admin.screenshot("37-sources-what-would-this-mail-become")

    # An out-of-office reply, uploaded as a file: ignored, and why.
    auto = tmp_path / "away.eml"
    auto.write_bytes(
        b"From: Jo <jo@customer.example>\r\nTo: support@example.com\r\n"
        b"Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nAway until Monday.\r\n"
    )
    page.set_input_files("#preview-eml", str(auto))
    panel.get_by_role("button", name="Show what it would become").click()
    expect(facts).to_contain_text("ignored")
    expect(page.locator("#preview-classification")).to_contain_text("auto")
    admin.assert_no_server_errors()


def test_browser_ignored_message_processed_anyway_from_the_email_log(
    admin_browser: AdminBrowser,
) -> None:
    admin = admin_browser
    page = admin.page
    source = admin.api.create()
    log = admin.api.app.runtime.email_log
    entry = log.begin(admin.api.tenant_id, source["id"], "INBOX:1:1", size=100)
    raw = b"From: jo@customer.example\r\nSubject: Away\r\n\r\nBack Monday.\r\n"
    log.describe(
        entry.id,
        message_id=None,
        digest=None,
        sender="jo@customer.example",
        sender_name="Jo",
        subject="Away",
        headers=[("Subject", "Away")],
        raw=raw,
    )
    log.finish(entry.id, Outcome.IGNORED, "automatic reply (Auto-Submitted)", trail=["parsed"])
    admin.open("/pages/email-log")
    row = page.locator("#log-body tr", has_text="Away")
    row.get_by_role("button", name="Details").click()
    expect(page.locator("#entry-retry")).to_be_hidden()
    page.get_by_role("button", name="Process anyway").click()
    expect(page.locator("#page-message")).to_contain_text("processed at the source's next poll")
    expect(row.locator(".lozenge")).to_have_text("pending")
    expect(page.get_by_role("button", name="Process anyway")).to_be_hidden()
    admin.screenshot("38-email-log-processed-anyway")
    admin.assert_no_server_errors()
