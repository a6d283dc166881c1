"""The mail-sources page where delivery is separate work (PostgreSQL, the queue engine): a poll
that only fetched says what it left queued for delivery, and once the workers have delivered
it the row says what that came to, a failure included, as it does where polls process the
mail themselves. Screenshots under test-artifacts/browser/ (39 onwards)."""

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

from connector.engine.queue import FRESH
from tests.browser.conftest import AdminBrowser
from tests.browser.test_sources_browser import _enabled_dovecot_source
from tests.integration.test_delivery_status import _owed
from tests.integration.test_queue_delivery import _Calls, _engine, _finals
from tests.integration.test_queue_engine import _run
from tests.integration.worker_support import running, wait_for
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.messages import build_message


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """Delivery is separate work on PostgreSQL only."""
    return postgres_url


def test_browser_sources_say_what_is_queued_for_delivery_then_what_it_came_to(
    admin_browser: AdminBrowser, dovecot: Dovecot, mail_user: MailUser
) -> None:
    admin = admin_browser
    page = admin.page
    runtime = admin.api.app.runtime
    source_id = _enabled_dovecot_source(admin, dovecot, mail_user)
    dovecot.deliver(mail_user, build_message("Printer on fire"))
    dovecot.deliver(mail_user, build_message("Paper jam"))
    engine = _engine(runtime, _Calls())

    # A poll job fetched the mail; no worker has delivered it yet.
    _run(engine, lambda: engine._poll_job(source_id, FRESH))
    admin.open("/pages/admin")
    row = page.locator("#sources-body tr", has_text="Support inbox")
    expect(row.locator(".lozenge")).to_have_text("OK")
    expect(row.locator(".poll-progress")).to_have_text(
        "2 messages of the last poll queued for delivery."
    )
    admin.screenshot("39-sources-queued-for-delivery")

    # Jira refuses one issue; the workers deliver both and the next fetch settles the mailbox.
    jira = admin.api.jira
    jira.inject_fault(400, method="POST", path_contains="/rest/api/3/issue")
    with running(engine):
        assert wait_for(lambda: len(_finals(runtime, admin.api.tenant_id)) == 2, 60)
        assert wait_for(lambda: _owed(runtime) == 0, 30)
    admin.open("/pages/admin")
    expect(row.locator(".lozenge")).to_have_text("Warning")
    expect(row.locator(".status-message")).to_contain_text("could not process 1 message")
    expect(row.locator(".poll-progress")).to_have_count(0)
    expect(row.get_by_role("link", name="1 failed message in the email log")).to_be_visible()
    admin.screenshot("39b-sources-delivered-one-failed")

    # "Poll now" with a worker running: followed through fetch and delivery to the outcome.
    dovecot.deliver(mail_user, build_message("Toner low"))
    with running(_engine(runtime, _Calls())):
        row.get_by_role("button", name="Poll now").click()
        expect(row.locator(".row-message")).to_have_text("Polled: 1 created.")
    admin.screenshot("39c-sources-poll-now-delivered")
    admin.api.jira.clear_faults()
    admin.assert_no_server_errors()
