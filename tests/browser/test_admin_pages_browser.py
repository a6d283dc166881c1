"""From an empty tenant to the first issue, in a real browser: the set-up wizard, the sources
list, the email log and the project settings page, with a mailbox on Dovecot and the fake Jira.
Every page is saved as a screenshot under test-artifacts/browser/."""

from __future__ import annotations

import importlib.util
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from tests.conftest import servers_required

if importlib.util.find_spec("playwright") is None:
    reason = "the playwright package is not installed (uv sync installs it)"
    if servers_required():
        raise ImportError(f"{reason} (REQUIRE_SERVERS=1)")
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import expect

from tests.browser.conftest import AdminBrowser, clean_artifacts
from tests.servers.dovecot import Dovecot, MailUser

# Markup in a subject and a sender name: the pages must show it as text, never run it.
HOSTILE_SUBJECT = 'Printer <img src=x onerror="window.__injected=1"> on <b>fire</b>'
HOSTILE_NAME = "<script>window.__injected=2</script> Jürgen"


def _mail(subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = f'"{HOSTILE_NAME}" <jurgen@customer.example>'
    message["To"] = "support@example.com"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="customer.example")
    message.set_content("The printer in room 4 is on fire.")
    return message.as_bytes()


def _complete_wizard(admin: AdminBrowser, dovecot: Dovecot, user: MailUser) -> None:
    page = admin.page
    customer_field = admin.api.jira.add_custom_field("Customer name", projects=("SUP",))
    admin.open("/pages/setup")
    expect(page.locator("#project option[value=SUP]")).to_have_count(1)
    page.select_option("#project", "SUP")
    expect(page.locator("#issue-type")).to_be_enabled()
    page.select_option("#issue-type", "Task")
    admin.screenshot("01-setup-project")
    page.click("#project-next")

    form = page.locator("#mailbox-form")
    expect(form).to_be_visible()
    # Tested before the server is typed in: told what to do, beside the field, taken there.
    page.click("#mailbox-test")
    host = form.locator("[name=host]")
    expect(host).to_have_attribute("aria-invalid", "true")
    expect(host).to_be_focused()
    error_id = host.get_attribute("aria-describedby") or ""
    expect(page.locator(f"[id='{error_id.split()[-1]}']")).to_have_text(
        "Enter the mail server's name (for example imap.example.com) or its IP address."
    )
    admin.screenshot("01b-setup-mailbox-error")
    form.locator("[name=name]").fill("Support inbox")
    form.locator("[name=description]").fill("the service desk's shared mailbox")
    form.locator("[name=host]").fill(dovecot.host)
    form.locator("[name=port]").fill(str(dovecot.ports.imaps))
    form.locator("[name=security]").select_option("ssl")
    form.locator("[name=verify_tls]").uncheck()  # the test server's certificate is self-signed
    form.locator("[name=username]").fill(user.name)
    form.locator("[name=password]").fill("not-the-password")
    page.click("#mailbox-test")
    failed = page.locator("#diagnosis li[data-step=authenticate].failed")
    expect(failed).to_be_visible()
    expect(page.locator("#diagnosis li[data-step=connect].ok")).to_be_visible()
    admin.screenshot("02-setup-mailbox-test-failed")

    form.locator("[name=password]").fill(user.password)
    page.click("#mailbox-test")
    expect(page.locator("#diagnosis li[data-step=messages].ok")).to_be_visible()
    expect(page.locator("#diagnosis")).to_contain_text("All checks passed.")
    # Google and Microsoft sign-in appear for their presets only.
    expect(page.locator("#oauth")).to_be_hidden()
    form.locator("[name=provider]").select_option("gmail")
    expect(page.locator("#oauth-google")).to_be_visible()
    expect(page.locator("#oauth-microsoft")).to_be_hidden()
    # The redirect URI to register with Google, with a copy button and where to register it.
    redirect = f"{admin.api.app.base_url}/oauth/callback"
    expect(page.locator("#oauth-redirect")).to_have_value(redirect)
    expect(page.get_by_role("link", name="Google Cloud console, Credentials")).to_be_visible()
    expect(page.locator("#oauth-help-microsoft")).to_be_hidden()
    page.click("#oauth-copy")
    expect(page.locator("#oauth-copied")).not_to_be_empty()
    expect(form.locator("[name=host]")).to_have_value("imap.gmail.com")
    admin.screenshot("03-setup-mailbox-presets")
    form.locator("[name=provider]").select_option("custom")
    form.locator("[name=host]").fill(dovecot.host)
    form.locator("[name=port]").fill(str(dovecot.ports.imaps))
    page.click("#mailbox-save")

    fields_step = page.locator("section.step[data-step=fields]")
    expect(fields_step).to_be_visible()
    # What agents see when a field is not kept: the sender line, but nothing to search by.
    expect(fields_step).to_contain_text("wrote by email:")
    expect(fields_step).to_contain_text("cannot search or filter by it")
    # Each role with its field and whether the create screen has it: an existing field is
    # chosen for the name, one is created for the address, then added to the screen in Jira.
    sender_name = page.locator("#fields-body tr[data-role=sender_name]")
    sender_address = page.locator("#fields-body tr[data-role=sender_address]")
    expect(sender_name).to_contain_text("Sender name")
    expect(page.locator("#fields-body tr[data-role=recipients]")).to_be_visible()
    sender_name.locator("select").select_option(label=f"Customer name ({customer_field})")
    sender_address.get_by_role("button", name="Create field").click()
    expect(sender_address.locator(".lozenge")).to_have_text("Missing: add it to the screen")
    expect(sender_name.locator(".lozenge")).to_have_text("Found")  # the choice was kept
    created = sender_address.locator("select").input_value()
    assert created.startswith("customfield_") and created != customer_field
    admin.api.jira.put_on_create_screen(created, "SUP")
    page.click("#fields-check")
    expect(sender_address.locator(".lozenge")).to_have_text("Found")
    admin.screenshot("04-setup-fields")
    page.click("#fields-next")

    expect(page.locator("section.step[data-step=user]")).to_be_visible()
    admin.screenshot("05-setup-workaround-user")
    page.click("#user-next")

    summary = page.locator("#summary-list")
    expect(summary).to_contain_text(f"Mail to {user.name}")
    expect(summary).to_contain_text("becomes a Task in SUP")
    expect(summary).to_contain_text("The mailbox holds 0 messages now")
    expect(summary).to_contain_text("2 custom fields keep senders without a Jira account")
    admin.screenshot("06-setup-summary")
    page.click("#enable")
    expect(page.locator("#enabled-text")).to_have_text(
        "Enabled. New mail will become issues from now on."
    )
    admin.screenshot("07-setup-enabled")
    admin.assert_no_server_errors()


def test_browser_wizard_to_first_issue_then_broken_and_fixed_password(
    admin_browser: AdminBrowser, dovecot: Dovecot, mail_user: MailUser
) -> None:
    clean_artifacts()
    admin = admin_browser
    page = admin.page
    jira = admin.api.jira
    _complete_wizard(admin, dovecot, mail_user)

    # Mail arrives; "Poll now" on the sources list turns it into the first issue.
    dovecot.deliver(mail_user, _mail(HOSTILE_SUBJECT))
    admin.open("/pages/admin")
    row = page.locator("#sources-body tr", has_text="Support inbox")
    expect(row.locator(".lozenge")).to_have_text("Not polled yet")
    row.get_by_role("button", name="Poll now").click()
    expect(row.locator(".row-message")).to_have_text("Polled: 1 created.")
    expect(row.locator(".lozenge")).to_have_text("OK")
    expect(row.locator("td.number")).to_have_text("1")
    assert jira.issue_keys() == ["SUP-1"]
    issue = jira.issue("SUP-1")
    assert issue is not None and issue["fields"]["summary"] == HOSTILE_SUBJECT
    page.fill("#source-search", "no such mailbox")
    expect(page.locator("#sources-body")).to_contain_text("No mail source matches")
    page.fill("#source-search", "shared mailbox")  # the description
    expect(row).to_be_visible()
    admin.screenshot("08-sources-first-poll")

    # The email log shows it, mail-borne markup as text.
    admin.open("/pages/email-log")
    entry = page.locator("#log-body tr").first
    expect(entry.locator(".subject")).to_have_text(HOSTILE_SUBJECT)
    expect(entry.locator(".sender")).to_contain_text(HOSTILE_NAME)
    expect(entry).to_contain_text("created")
    expect(entry.get_by_role("link", name="SUP-1")).to_have_attribute(
        "href", f"{jira.base_url}/browse/SUP-1"
    )
    page.select_option("#filter-outcome", "failed")
    expect(page.locator("#log-empty")).to_be_visible()
    page.select_option("#filter-outcome", "created")
    entry.get_by_role("button", name="Details").click()
    expect(page.locator("#entry-subject")).to_have_text(HOSTILE_SUBJECT)
    expect(page.locator("#entry-headers")).to_contain_text("Message-ID")
    expect(page.locator("#entry-trail li").first).to_be_visible()
    expect(page.locator("#entry-retry")).to_be_hidden()  # created, nothing to retry
    assert page.locator("#log-body img, #entry-panel img, main script").count() == 0
    assert page.evaluate("window.__injected") is None
    admin.screenshot("09-email-log")

    # Someone changes the mailbox password: the next poll shows the error on the list.
    fixed = dovecot.change_password(mail_user, "a-new-Mailbox-password")
    admin.open("/pages/admin")
    row.get_by_role("button", name="Poll now").click()
    expect(row.locator(".lozenge")).to_have_text("Error")
    expect(row.locator(".status-message")).not_to_be_empty()
    admin.screenshot("10-sources-password-broken")

    # The admin types the new password in, tests it and polls again.
    row.get_by_role("button", name="Edit").click()
    edit = page.locator("#edit-form")
    edit.locator("[name=password]").fill(fixed.password)
    page.click("#edit-test")
    expect(page.locator("#edit-diagnosis li[data-step=authenticate].ok")).to_be_visible()
    edit.get_by_role("button", name="Save").click()
    expect(page.locator("#page-message")).to_have_text("Saved Support inbox.")
    row.get_by_role("button", name="Poll now").click()
    expect(row.locator(".lozenge")).to_have_text("OK")
    expect(row.locator(".status-message")).to_have_count(0)
    admin.screenshot("11-sources-password-fixed")

    # The project's settings tab lists the source feeding it.
    admin.open("/pages/project-settings?projectKey=SUP&projectId=10000")
    feed = page.locator("#feeds-body tr", has_text="Support inbox")
    expect(feed.locator(".lozenge")).to_have_text("OK")
    expect(feed).to_contain_text("all its mail → Task")
    expect(feed.locator("td.number")).to_have_text("1")
    admin.screenshot("12-project-settings")
    admin.assert_no_server_errors()


def test_browser_project_admin_sees_the_project_tab_not_an_error(
    admin_browser: AdminBrowser,
) -> None:
    admin = admin_browser
    page = admin.page
    admin.api.create(name="Support inbox")
    jira = admin.api.jira
    jira.add_user("557058:lead", "lead@example.com", "Project Lead")
    jira.set_permissions("BROWSE_PROJECTS", "ADMINISTER_PROJECTS", account_id="557058:lead")
    admin.account_id = "557058:lead"  # no Jira administrator: the project's
    # "Today" is counted in the Jira user's time zone (the stub's AP.user says Europe/Berlin).
    with page.expect_request(lambda r: "/feeds?tz=Europe%2FBerlin" in r.url):
        admin.open("/pages/project-settings?projectKey=SUP&projectId=10000")
    feed = page.locator("#feeds-body tr", has_text="Support inbox")
    expect(feed).to_contain_text("all its mail → Task")
    expect(feed.locator("td.number")).to_have_text("0")
    expect(page.locator("#page-message")).to_be_hidden()
    admin.screenshot("13-project-settings-as-project-admin")
    admin.assert_no_server_errors()


def test_browser_refusals_read_as_what_to_do(admin_browser: AdminBrowser) -> None:
    """The API's words for programs, as the pages say them to people (app.js plainWords)."""
    admin = admin_browser
    admin.open("/pages/email-log")
    said = admin.page.evaluate(
        """async () => {
          const { plainWords } = await import(document.body.dataset.basePath + "/static/app.js");
          return [
            plainWords("host: '' is not a host name or IP address", "host", null),
            plainWords('150 messages are waiting, more than 100: send again with "acknowledge": '
              + "true to go ahead", null, null),
            plainWords("address_rules[0].pattern: is required", "address_rules[0].pattern", null),
            plainWords("port: must be from 1 to 65535", "port", null),
          ];
        }"""
    )
    assert said == [
        "Enter the mail server's name (for example imap.example.com) or its IP address.",
        "Many messages are waiting: tick the box to confirm they may become Jira issues and "
        "comments, then try again.",
        "Fill in this field.",
        "This field must be from 1 to 65535.",
    ]
