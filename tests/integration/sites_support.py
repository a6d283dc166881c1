"""A Jira site connected without an app install, through `connector site add` as an operator
runs it (in this process, with the running app's settings in the environment)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connector import cli
from connector.sites.signin import CSRF_HEADER
from connector.tenant import Tenant
from tests.fakes.datacenter import FakeJiraDataCenter
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp

SERVICE_EMAIL = "mail-service@example.com"
TOKEN_VARIABLE = "TEST_SITE_API_TOKEN"
PAT_VARIABLE = "TEST_SITE_PAT"
SERVICE_USER = "svc-mail"  # the Data Center account the personal access token is of


def use_app_settings(monkeypatch: pytest.MonkeyPatch, running_app: RunningApp) -> None:
    settings = running_app.runtime.settings
    monkeypatch.setenv("BASE_URL", settings.base_url)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ENCRYPTION_KEY", ",".join(settings.encryption_keys))
    monkeypatch.setenv("CONNECT_INSTALL_KEYS_URL", settings.connect_install_keys_url)


def run_cli(*args: str) -> int:
    return cli.main(["--log-level", "WARNING", *args])


def connect_site(
    monkeypatch: pytest.MonkeyPatch, running_app: RunningApp, fake_jira: FakeJira
) -> tuple[Tenant, str]:
    """The fake site as a tenant of kind "cloud"; returns it and the service account's id."""
    account_id, token = fake_jira.add_service_account(SERVICE_EMAIL)
    use_app_settings(monkeypatch, running_app)
    monkeypatch.setenv(TOKEN_VARIABLE, token)
    status = run_cli(
        "site", "add", "--url", fake_jira.base_url, "--email", SERVICE_EMAIL,
        "--token-env", TOKEN_VARIABLE,
    )  # fmt: skip
    assert status == 0
    tenant_id = running_app.runtime.sites.tenant_id(fake_jira.base_url)
    assert tenant_id is not None
    tenant = running_app.runtime.tenants.by_id(tenant_id)
    assert tenant is not None
    return tenant, account_id


def connect_datacenter(
    monkeypatch: pytest.MonkeyPatch, running_app: RunningApp, jira: FakeJiraDataCenter
) -> Tenant:
    """The fake Data Center server as a tenant of kind "datacenter", through
    `connector site add --pat-env`, acting as `SERVICE_USER`."""
    token = jira.add_user(SERVICE_USER, SERVICE_EMAIL, "Mail Service", token=True)
    assert token is not None
    use_app_settings(monkeypatch, running_app)
    monkeypatch.setenv(PAT_VARIABLE, token)
    assert run_cli("site", "add", "--url", jira.base_url, "--pat-env", PAT_VARIABLE) == 0
    tenant_id = running_app.runtime.sites.tenant_id(jira.base_url)
    tenant = running_app.runtime.tenants.by_id(tenant_id or 0)
    assert tenant is not None
    return tenant


def make_admin(fake_jira: FakeJira, account_id: str) -> None:
    """The site's account administers Jira (and keeps what mail handling needs)."""
    fake_jira.set_permissions(
        "BROWSE_PROJECTS", "CREATE_ISSUES", "ADD_COMMENTS", "ADMINISTER", account_id=account_id
    )


def admin_link(capsys: pytest.CaptureFixture[str], site_url: str) -> str:
    """`connector admin-link --site URL`'s link (its one line on stdout)."""
    capsys.readouterr()
    assert run_cli("admin-link", "--site", site_url) == 0
    return capsys.readouterr().out.strip()


def link_token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def sign_in_link(app_url: str, link: str) -> httpx.Client:
    """A browser-like client signed in with an admin link (its session cookie kept)."""
    browser = httpx.Client(base_url=app_url, timeout=10)
    shown = browser.get(link)
    assert shown.status_code == 200 and 'id="sign-in"' in shown.text
    assert "frame-ancestors 'none'" in shown.headers["content-security-policy"]
    answer = browser.post("/site-signin", data={"token": link_token(link)})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].endswith("/pages/admin")
    return browser


def csrf_headers(browser: httpx.Client) -> dict[str, str]:
    """The session's CSRF token, read from an admin page as the pages' script reads it."""
    page = browser.get("/pages/admin")
    assert page.status_code == 200
    return {CSRF_HEADER: page.text.split('data-csrf="', 1)[1].split('"', 1)[0]}
