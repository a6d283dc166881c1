"""Every admin page, at a desktop and a narrow iframe width, checked with axe-core: no serious or
critical violation, and the navigation marks the page it is on for screen readers.

The other browser tests audit each state they save as a screenshot (`AdminBrowser.screenshot`);
this one makes sure no page is left out, the refusal page included."""

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

from connector.admin.pages import PAGES
from tests.browser.conftest import AdminBrowser
from tests.integration.admin_support import dovecot_body
from tests.servers.dovecot import Dovecot, MailUser

# Jira's admin iframe on a laptop, and squeezed beside Jira's sidebar on a small screen.
WIDTHS = (1280, 800)
TAB_NAMES = {
    "sources": "Mail sources",
    "setup": "Set up",
    "email-log": "Email log",
    "notifications": "Notifications",
}


@pytest.mark.parametrize("width", WIDTHS)
def test_browser_every_page_has_no_serious_accessibility_violation(
    admin_browser: AdminBrowser, dovecot: Dovecot, mail_user: MailUser, width: int
) -> None:
    admin = admin_browser
    page = admin.page
    page.set_viewport_size({"width": width, "height": 900})
    # A new tenant's list: no sources, a link to the wizard inside the sentence.
    admin.open("/pages/admin")
    expect(page.locator("#sources-empty")).to_be_visible()
    admin.assert_accessible(f"the empty sources list at {width} px")
    # One source, so the lists have rows (and their action buttons) to audit.
    admin.api.create(**dovecot_body(dovecot, mail_user))
    for path, spec in PAGES.items():
        query = "?projectKey=SUP&projectId=10000" if spec.nav == "project" else ""
        admin.open(path + query)
        page.wait_for_load_state("networkidle")
        if spec.nav in TAB_NAMES:
            current = page.locator("nav.tabs [aria-current=page]")
            expect(current).to_have_count(1)
            expect(current).to_have_text(TAB_NAMES[spec.nav])
        admin.assert_accessible(f"{path} at {width} px")
    # Opened outside Jira, a page says why it is refused; that page is read too.
    refused = page.goto(f"{admin.api.app.base_url}/pages/admin")
    assert refused is not None and refused.status == 401
    admin.assert_accessible(f"the refusal page at {width} px")
    admin.assert_no_server_errors()


def test_browser_accessibility_check_reports_an_unnamed_select(
    admin_browser: AdminBrowser,
) -> None:
    """The audit itself can fail: a select with no label on a real page is reported."""
    admin = admin_browser
    admin.open("/pages/email-log")
    assert admin.axe_violations() == []
    admin.page.evaluate("document.querySelector('main').append(document.createElement('select'))")
    assert [v["id"] for v in admin.axe_violations()] == ["select-name"]
