"""`connector admin-link` (issue 20): the admin pages of a site connected without an install,
in a normal browser tab with a session cookie. The browser test (tests/browser) drives the
pages; here the link, the cookie and the API's checks, as plain HTTP."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update
from sqlmodel import Session, col

from connector.sites.signin import CSRF_HEADER, hashed, make_link
from connector.storage.models import AdminSessionRow
from connector.storage.times import utc_now
from tests.fakes.datacenter import FakeJiraDataCenter
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.sites_support import (
    SERVICE_USER,
    admin_link,
    connect_datacenter,
    connect_site,
    link_token,
    make_admin,
    run_cli,
    sign_in_link,
)


@pytest.fixture
def site(
    running_app: RunningApp, fake_jira: FakeJira, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    tenant, account_id = connect_site(monkeypatch, running_app, fake_jira)
    make_admin(fake_jira, account_id)
    return tenant.id, account_id


def test_admin_link_signs_in_once_with_a_strict_session_cookie(
    running_app: RunningApp,
    fake_jira: FakeJira,
    site: tuple[int, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    link = admin_link(capsys, fake_jira.base_url)
    assert link.startswith(f"{running_app.base_url}/site-signin?token=")
    fetched_only = httpx.get(link, timeout=10)  # a link preview: uses nothing up
    assert fetched_only.status_code == 200 and "set-cookie" not in fetched_only.headers
    browser = sign_in_link(running_app.base_url, link)
    cookie = browser.cookies.jar
    (session_cookie,) = list(cookie)
    assert session_cookie.has_nonstandard_attr("HttpOnly")
    assert session_cookie.get_nonstandard_attr("SameSite") == "strict"
    assert not session_cookie.secure  # the app is on http loopback here; https sets it

    page = browser.get("/pages/admin")
    assert page.status_code == 200
    assert "connect-cdn.atl-paas.net" not in page.text  # no AP outside Jira
    assert (
        'data-csrf="' in page.text
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    assert browser.get("/api/v1/mail-sources").status_code == 200
    # Every state-changing call needs the session's CSRF token.
    assert browser.delete("/api/v1/mail-sources/999").status_code == 403
    csrf = page.text.split('data-csrf="', 1)[1].split('"', 1)[0]
    headers = {CSRF_HEADER: csrf}
    assert browser.delete("/api/v1/mail-sources/999", headers=headers).status_code == 404
    wrong = {CSRF_HEADER: csrf[:-2] + "xx"}
    assert browser.delete("/api/v1/mail-sources/999", headers=wrong).status_code == 403

    # Single use: the same link again opens nothing.
    again = httpx.post(
        f"{running_app.base_url}/site-signin", data={"token": link_token(link)}, timeout=10
    )
    assert again.status_code == 400 and "used already" in again.text
    # Signing out ends the session.
    assert browser.post("/site-signout", headers=headers).status_code == 204
    assert browser.get("/api/v1/mail-sources").status_code == 401


def test_forged_expired_and_foreign_links_are_refused(
    running_app: RunningApp, fake_jira: FakeJira, site: tuple[int, str]
) -> None:
    tenant_id, _ = site
    keys = running_app.runtime.settings.encryption_keys
    url = f"{running_app.base_url}/site-signin"
    genuine = make_link(keys, tenant_id).token
    forged = f"{tenant_id + 1}.{genuine.split('.', 1)[1]}"
    answer = httpx.post(url, data={"token": forged}, timeout=10)
    assert answer.status_code == 400 and "not genuine" in answer.text
    expired = make_link(keys, tenant_id, now=0).token
    answer = httpx.post(url, data={"token": expired}, timeout=10)
    assert answer.status_code == 400 and "expired" in answer.text
    # Signed but never printed by `admin-link` (not in the database): refused too.
    answer = httpx.post(url, data={"token": genuine}, timeout=10)
    assert answer.status_code == 400 and "used already" in answer.text
    other_keys = [Fernet.generate_key().decode("ascii")]
    answer = httpx.post(url, data={"token": make_link(other_keys, tenant_id).token}, timeout=10)
    assert answer.status_code == 400 and "not genuine" in answer.text


def test_idle_session_ends_and_non_admin_account_is_refused(
    running_app: RunningApp,
    fake_jira: FakeJira,
    site: tuple[int, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, account_id = site
    browser = sign_in_link(running_app.base_url, admin_link(capsys, fake_jira.base_url))
    # Jira says the account is no administrator (asked with its own token, for the first
    # time in this test, so nothing is cached): 403.
    fake_jira.set_permissions("BROWSE_PROJECTS", "CREATE_ISSUES", account_id=account_id)
    refused = browser.get("/api/v1/mail-sources")
    assert refused.status_code == 403 and "administrators" in refused.json()["error"]
    # Idle for longer than the timeout: the session is gone.
    session_id = browser.cookies["mail_connector_session"]
    with Session(running_app.runtime.engine) as session:
        session.exec(
            update(AdminSessionRow)
            .where(col(AdminSessionRow.id_hash) == hashed(session_id))
            .values(last_seen_at=utc_now() - timedelta(hours=1))
        )
        session.commit()
    assert browser.get("/api/v1/mail-sources").status_code == 401
    assert browser.get("/pages/admin").status_code == 401


def test_admin_link_for_unknown_or_removed_site_is_refused(
    fake_jira: FakeJira, site: tuple[int, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("admin-link", "--site", "https://unknown.example") == 2
    assert "not a connected site" in capsys.readouterr().err
    assert run_cli("site", "remove", "--url", fake_jira.base_url) == 0
    assert run_cli("admin-link", "--site", fake_jira.base_url) == 2


@pytest.mark.parametrize("admin", [True, False])
def test_datacenter_admin_is_asked_over_rest_v2_with_the_pat(
    running_app: RunningApp,
    fake_datacenter: FakeJiraDataCenter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    admin: bool,
) -> None:
    """A Data Center site's admin pages: the account's own PAT asks `GET /rest/api/2/
    mypermissions?permissions=ADMINISTER` (Data Center has no `permissions/check`)."""
    connect_datacenter(monkeypatch, running_app, fake_datacenter)
    if admin:
        fake_datacenter.set_permissions(SERVICE_USER, "BROWSE_PROJECTS", "ADMINISTER")
    browser = sign_in_link(running_app.base_url, admin_link(capsys, fake_datacenter.base_url))
    answer = browser.get("/api/v1/mail-sources")
    if admin:
        assert answer.status_code == 200
    else:  # a user holds no ADMINISTER by default
        assert answer.status_code == 403 and "administrators" in answer.json()["error"]
    asked = [c for c in fake_datacenter.requests_log if c.path.endswith("/mypermissions")]
    assert asked[-1].path == "/rest/api/2/mypermissions" and asked[-1].user == SERVICE_USER
