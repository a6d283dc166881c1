"""`connector site add|list|remove` (issue 20): a site connected without an app install,
after its credentials were checked against it, with a clear message for each failure."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from connector.storage.models import TenantRow
from connector.tenant import CLOUD_SITE, DATACENTER_SITE
from connector.wiring import poll_source
from tests.fakes.datacenter import FakeJiraDataCenter
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.sites_support import (
    PAT_VARIABLE,
    SERVICE_EMAIL,
    SERVICE_USER,
    TOKEN_VARIABLE,
    connect_datacenter,
    connect_site,
    run_cli,
    use_app_settings,
)
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.messages import build_message
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


def test_site_add_datacenter_checks_the_server_and_mail_becomes_issues(
    running_app: RunningApp,
    fake_datacenter: FakeJiraDataCenter,
    monkeypatch: pytest.MonkeyPatch,
    dovecot: Dovecot,
    mail_user: MailUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Data Center server, asked over REST v2 with the bearer PAT who the account is and
    what it may do, is stored with its kind; its mail becomes issues there (wiki markup,
    the marker label) and its admin pages have a sign-in link."""
    tenant = connect_datacenter(monkeypatch, running_app, fake_datacenter)
    assert tenant.kind == DATACENTER_SITE
    assert tenant.site is not None and str(tenant.site.account_id).startswith("JIRAUSER")
    asked = {(c.path, c.user) for c in fake_datacenter.requests_log}
    assert ("/rest/api/2/myself", SERVICE_USER) in asked
    assert ("/rest/api/2/mypermissions", SERVICE_USER) in asked
    assert "Jira DataCenter 9.12.0" in capsys.readouterr().out

    runtime = running_app.runtime
    source = runtime.sources.create(tenant.id, dovecot_spec(dovecot, mail_user))
    runtime.sources.set_enabled(tenant.id, source.id, True)
    assert poll_source(runtime, source.id, owner="test").ok  # the first poll marks the start
    dovecot.deliver(mail_user, build_message("Printer", body="It says {code}PC LOAD{code}.\n"))
    result = poll_source(runtime, source.id, owner="test")
    assert result.ok and result.counts == {"created": 1}
    issue = fake_datacenter.issue("SUP-1")
    assert issue is not None and issue["reporter"] == SERVICE_USER
    assert "\\{code\\}PC LOAD\\{code\\}" in issue["fields"]["description"]
    assert [label[:5] for label in issue["fields"]["labels"]] == ["mail-"]
    assert fake_datacenter.validation_failures == []
    assert run_cli("admin-link", "--site", fake_datacenter.base_url) == 0
    assert "/site-signin?token=" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("version", "deployment", "expected"),
    [
        ("9.4.2", "DataCenter", "Jira 9.4.2 is too old: Jira Data Center 9.12 or later"),
        ("10.3.1", "Cloud", "is Jira Cloud, which has no personal access tokens"),
    ],
)
def test_site_add_datacenter_refuses_an_unsupported_server(
    running_app: RunningApp,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    version: str,
    deployment: str,
    expected: str,
) -> None:
    with FakeJiraDataCenter(version=version, deployment_type=deployment) as jira:
        token = jira.add_user(SERVICE_USER, SERVICE_EMAIL, "Mail Service", token=True)
        use_app_settings(monkeypatch, running_app)
        monkeypatch.setenv(PAT_VARIABLE, token or "")
        assert run_cli("site", "add", "--url", jira.base_url, "--pat-env", PAT_VARIABLE) == 2
    assert expected in capsys.readouterr().err
    assert running_app.runtime.sites.summaries() == []


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
