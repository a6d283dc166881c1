"""`connector site add|list|remove` (issue 20): a site connected without an app install,
after its credentials were checked against it, with a clear message for each failure."""

from __future__ import annotations

import httpx
import pytest
import respx
from sqlmodel import Session, select

from connector.storage.models import TenantRow
from connector.tenant import CLOUD_SITE, DATACENTER_SITE
from connector.wiring import DATACENTER_NOT_READY, poll_source
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.sites_support import (
    SERVICE_EMAIL,
    TOKEN_VARIABLE,
    connect_site,
    run_cli,
    use_app_settings,
)
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.sources import dovecot_spec


def _add_cloud(fake_jira: FakeJira, email: str = SERVICE_EMAIL) -> int:
    return run_cli(
        "site", "add", "--url", fake_jira.base_url, "--email", email,
        "--token-env", TOKEN_VARIABLE,
    )  # fmt: skip


def test_site_add_cloud_stores_tenant_with_encrypted_token(
    running_app: RunningApp,
    fake_jira: FakeJira,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tenant, account_id = connect_site(monkeypatch, running_app, fake_jira)
    printed = capsys.readouterr()
    assert tenant.kind == CLOUD_SITE and tenant.active
    assert tenant.site is not None and tenant.site.account_id == account_id
    assert tenant.site.email == SERVICE_EMAIL
    assert tenant.base_url == fake_jira.base_url and tenant.shared_secret is None
    token = fake_jira.api_tokens[SERVICE_EMAIL]
    assert tenant.site.token == token
    assert token not in printed.out + printed.err
    with Session(running_app.runtime.engine) as session:
        row = session.exec(select(TenantRow).where(TenantRow.id == tenant.id)).one()
    assert row.site_token_encrypted and token not in row.site_token_encrypted
    # Who am I, what server, which permissions: all asked with the token.
    asked = {(r.path, r.auth) for r in fake_jira.requests_log}
    assert ("/rest/api/3/myself", "basic") in asked
    assert ("/rest/api/3/mypermissions", "basic") in asked
    assert any(path == "/rest/api/3/serverInfo" for path, _ in asked)

    assert run_cli("site", "list") == 0
    listed = capsys.readouterr().out
    assert fake_jira.base_url in listed and "cloud" in listed and "active" in listed


def test_site_add_again_updates_the_same_tenant(
    running_app: RunningApp, fake_jira: FakeJira, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, _ = connect_site(monkeypatch, running_app, fake_jira)
    fake_jira.api_tokens[SERVICE_EMAIL] = "a-new-token"
    monkeypatch.setenv(TOKEN_VARIABLE, "a-new-token")
    assert _add_cloud(fake_jira) == 0
    again = running_app.runtime.tenants.by_id(tenant.id)
    assert again is not None and again.site is not None and again.site.token == "a-new-token"
    assert [s.tenant_id for s in running_app.runtime.sites.summaries()] == [tenant.id]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("wrong-token", "refused the email mail-service@example.com with the API token in"),
        ("no-create", "may not create issues"),
        ("no-variable", "is not set"),
    ],
)
def test_site_add_failures_say_why_and_store_nothing(
    running_app: RunningApp,
    fake_jira: FakeJira,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    expected: str,
) -> None:
    account_id, token = fake_jira.add_service_account(SERVICE_EMAIL)
    use_app_settings(monkeypatch, running_app)
    monkeypatch.setenv(TOKEN_VARIABLE, token)
    if setup == "wrong-token":
        monkeypatch.setenv(TOKEN_VARIABLE, token + "x")
    elif setup == "no-create":
        fake_jira.set_permissions("BROWSE_PROJECTS", "ADD_COMMENTS", account_id=account_id)
    else:
        monkeypatch.delenv(TOKEN_VARIABLE)
    assert _add_cloud(fake_jira) == 2
    assert expected in capsys.readouterr().err
    assert running_app.runtime.sites.summaries() == []


def test_site_add_refuses_a_token_of_the_wrong_kind(
    running_app: RunningApp,
    fake_jira: FakeJira,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_app_settings(monkeypatch, running_app)
    monkeypatch.setenv("TEST_PAT", "some-personal-access-token")
    assert run_cli("site", "add", "--url", fake_jira.base_url, "--pat-env", "TEST_PAT") == 2
    assert "is Jira Cloud, which has no personal access tokens" in capsys.readouterr().err
    assert run_cli("site", "add", "--url", fake_jira.base_url, "--email", SERVICE_EMAIL) == 2
    assert "needs both --email and --token-env" in capsys.readouterr().err


def test_site_remove_keeps_data_and_add_resumes(
    running_app: RunningApp,
    fake_jira: FakeJira,
    monkeypatch: pytest.MonkeyPatch,
    dovecot: Dovecot,
    mail_user: MailUser,
) -> None:
    tenant, _ = connect_site(monkeypatch, running_app, fake_jira)
    runtime = running_app.runtime
    source = runtime.sources.create(tenant.id, dovecot_spec(dovecot, mail_user))
    assert run_cli("site", "remove", "--url", fake_jira.base_url) == 0
    removed = runtime.tenants.by_id(tenant.id)
    assert removed is not None and not removed.active
    assert removed.site is not None and removed.site.token is None
    assert runtime.sources.find(source.id) is not None
    assert _add_cloud(fake_jira) == 0
    back = runtime.tenants.by_id(tenant.id)
    assert back is not None and back.active and back.site is not None and back.site.token
    assert run_cli("site", "remove", "--url", "https://unknown.example") == 2


DC_URL = "https://jira.corp.example"


@respx.mock(assert_all_called=False)
def test_site_add_datacenter_is_stored_and_polls_say_not_yet(
    respx_mock: respx.MockRouter,
    running_app: RunningApp,
    monkeypatch: pytest.MonkeyPatch,
    dovecot: Dovecot,
    mail_user: MailUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Data Center server (answering REST v2 with a bearer PAT, as documented) is stored
    with its kind; until the v2 dialect is in place its polls refuse with one message."""
    pat = "dc-personal-access-token"
    respx_mock.route(host="127.0.0.1").pass_through()

    def bearer_only(request: httpx.Request, body: object) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {pat}":
            return httpx.Response(401, json={"errorMessages": ["not signed in"]})
        return httpx.Response(200, json=body)

    respx_mock.get(f"{DC_URL}/rest/api/2/serverInfo").respond(
        200, json={"deploymentType": "DataCenter", "version": "9.12.4", "serverTitle": "Corp"}
    )
    respx_mock.get(f"{DC_URL}/rest/api/2/myself").mock(
        side_effect=lambda r: bearer_only(r, {"key": "JIRAUSER10100", "name": "svc"})
    )
    granted = {"havePermission": True}
    permissions = {k: granted for k in ("BROWSE_PROJECTS", "CREATE_ISSUES", "ADD_COMMENTS")}
    respx_mock.get(f"{DC_URL}/rest/api/2/mypermissions").mock(
        side_effect=lambda r: bearer_only(r, {"permissions": permissions})
    )
    use_app_settings(monkeypatch, running_app)
    monkeypatch.setenv("TEST_PAT", pat)
    assert run_cli("site", "add", "--url", DC_URL, "--pat-env", "TEST_PAT") == 0
    runtime = running_app.runtime
    tenant_id = runtime.sites.tenant_id(DC_URL)
    tenant = runtime.tenants.by_id(tenant_id or 0)
    assert tenant is not None and tenant.kind == DATACENTER_SITE
    assert tenant.site is not None and tenant.site.account_id == "JIRAUSER10100"
    source = runtime.sources.create(tenant.id, dovecot_spec(dovecot, mail_user))
    runtime.sources.set_enabled(tenant.id, source.id, True)
    result = poll_source(runtime, source.id, owner="test")
    assert result.skipped and result.message == DATACENTER_NOT_READY
    assert run_cli("admin-link", "--site", DC_URL) == 2
    assert DATACENTER_NOT_READY in capsys.readouterr().err


def test_site_add_names_an_unreachable_site_and_one_that_is_not_jira(
    running_app: RunningApp,
    fake_jira: FakeJira,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_app_settings(monkeypatch, running_app)
    monkeypatch.setenv(TOKEN_VARIABLE, "some-api-token")
    for url, expected in [
        ("http://127.0.0.1:9", "cannot reach http://127.0.0.1:9"),
        (running_app.base_url, "is it the address of a Jira site"),  # our app: no REST API
        ("ftp://jira.example", "--url is not an http(s) URL"),
    ]:
        status = run_cli(
            "site", "add", "--url", url, "--email", SERVICE_EMAIL, "--token-env", TOKEN_VARIABLE
        )
        assert status == 2
        assert expected in capsys.readouterr().err
    assert running_app.runtime.sites.summaries() == []
