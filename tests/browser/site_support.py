"""Steps the browser tests of sites without an install share (tests/browser/test_site_browser.py
for Jira Cloud, test_datacenter_browser.py for Jira Data Center): the customer's mail, a tab
that records what goes wrong, the admin-link sign-in and the setup wizard to an enabled source.
Imported only by modules that checked playwright is installed."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

from playwright.sync_api import Locator, Page, Response, Route, expect

from tests.servers.dovecot import Dovecot, MailUser

CUSTOMER = "jurgen@customer.example"


def customer_mail(subject: str, body: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"Jürgen <{CUSTOMER}>"
    message["To"] = "help@support.example"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="customer.example")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def watch(page: Page) -> list[str]:
    """What went wrong in the tab, filled as it happens: page errors, server errors, and any
    request that leaves for elsewhere (Atlassian's CDN: outside Jira there is no AP)."""
    problems: list[str] = []
    page.set_default_timeout(20_000)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def on_response(response: Response) -> None:
        if response.status >= 500:
            problems.append(f"HTTP {response.status} {response.url}")

    def refuse_outside(route: Route) -> None:
        problems.append(f"outside request {route.request.url}")
        route.abort()

    page.on("response", on_response)
    page.route("https://**/*", refuse_outside)
    return problems


def sign_in(page: Page, link: str, site_url: str) -> None:
    """Open `connector admin-link`'s link and sign in: the admin pages, for that site."""
    page.goto(link)
    page.click("#sign-in")
    page.wait_for_url("**/pages/admin")
    expect(page.locator(".breadcrumbs .site")).to_have_text(site_url)


def set_up_source(
    page: Page, dovecot: Dovecot, mail_user: MailUser, *, workaround_step: bool = True
) -> None:
    """The setup wizard, from the tabs, to an enabled IMAP source "Support inbox" (SUP, Task).
    `workaround_step`: whether the wizard shows the workaround-user step (not on Data Center)."""
    page.click("nav.tabs a[data-navigate=setup]")
    page.wait_for_url("**/pages/setup")
    expect(page.locator("#project option[value=SUP]")).to_have_count(1)
    page.select_option("#project", "SUP")
    expect(page.locator("#issue-type")).to_be_enabled()
    page.select_option("#issue-type", "Task")
    page.click("#project-next")
    form = page.locator("#mailbox-form")
    expect(form).to_be_visible()
    form.locator("[name=name]").fill("Support inbox")
    form.locator("[name=host]").fill(dovecot.host)
    form.locator("[name=port]").fill(str(dovecot.ports.imaps))
    form.locator("[name=security]").select_option("ssl")
    form.locator("[name=verify_tls]").uncheck()  # the test server's certificate
    form.locator("[name=username]").fill(mail_user.name)
    form.locator("[name=password]").fill(mail_user.password)
    page.click("#mailbox-test")
    expect(page.locator("#diagnosis")).to_contain_text("All checks passed.")
    page.click("#mailbox-save")
    expect(page.locator("section.step[data-step=fields]")).to_be_visible()
    page.click("#fields-next")
    if workaround_step:
        expect(page.locator("section.step[data-step=user]")).to_be_visible()
        page.click("#user-next")
    else:  # a site that uses no workaround user: straight on to the summary
        expect(page.locator("section.step[data-step=summary]")).to_be_visible()
        expect(page.locator("#progress li[data-step=user]")).to_have_count(0)
        expect(page.locator("section.step[data-step=user]")).to_be_hidden()
    page.click("#enable")
    expect(page.locator("#enabled-text")).to_contain_text("Enabled.")


def source_row(page: Page) -> Locator:
    """The sources tab's row of "Support inbox"."""
    page.click("nav.tabs a[data-navigate=sources]")
    page.wait_for_url("**/pages/admin")
    return page.locator("#sources-body tr", has_text="Support inbox")
