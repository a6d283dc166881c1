"""Installs name a site the app will send signed calls to: in production only a Jira Cloud site,
and never a `displayUrl` that is not a web address.

Production is exercised in process (Starlette's TestClient) with BASE_URL a public name, so
nothing is sent anywhere but the fake install-key server on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.app import create_app
from connector.connect.install import InstallError, parse_install_payload, site_url_problem
from connector.runtime import Runtime
from connector.storage.db import make_engine, migrate
from tests.conftest import make_settings
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp

PUBLIC_APP = "https://connector.example.com"


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.atlassian.net",
        "https://ACME.atlassian.net/",
        "https://acme.jira.com",
        "https://acme.jira-dev.com",
        "https://sub.acme.atlassian.net",
        "https://acme.atlassian.net:443",
    ],
)
def test_site_url_production_atlassian_site_accepted(url: str) -> None:
    assert site_url_problem(url, production=True, atlassian=True) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://acme.atlassian.net",
        "https://atlassian.net",
        "https://acme.atlassian.net.evil.example",
        "https://evil.example/acme.atlassian.net",
        "https://evil.example#.atlassian.net",
        "https://user:pw@acme.atlassian.net",
        "https://evil.example\\@acme.atlassian.net",
        "https://acme.atlassian.net:8443",
        "https://acme.atlassian.net/jira",
        "https://acme.atlassian.net?next=x",
        "https://169.254.169.254",
        "https://127.0.0.1:8080",
        "https://acme .atlassian.net",
        "javascript:alert(1)//acme.atlassian.net",
    ],
)
def test_site_url_production_other_base_url_refused(url: str) -> None:
    assert site_url_problem(url, production=True, atlassian=True) is not None


@pytest.mark.parametrize(
    ("url", "production", "ok"),
    [
        ("https://jira.acme.example", True, True),  # a custom domain is fine to show
        ("http://jira.acme.example", True, False),
        ("http://127.0.0.1:8080", False, True),
        ("javascript:alert(document.cookie)", False, False),
        ("JavaScript:alert(1)", True, False),
        ("data:text/html,<script>alert(1)</script>", False, False),
        ("vbscript:msgbox", False, False),
        ("//evil.example", False, False),
        ("https://user@jira.acme.example", True, False),
    ],
)
def test_site_url_display_url_only_web_addresses(url: str, production: bool, ok: bool) -> None:
    assert (site_url_problem(url, production=production, atlassian=False) is None) is ok


def _payload(**changes: Any) -> dict[str, Any]:
    body = {
        "key": "mail-connector",
        "clientKey": "jira:site",
        "sharedSecret": "s" * 32,
        "baseUrl": "https://acme.atlassian.net",
        "productType": "jira",
    }
    return body | changes


def test_parse_install_payload_display_url_defaults_to_base_url() -> None:
    payload = parse_install_payload(_payload(), app_key="mail-connector")
    assert payload.display_url == payload.base_url == "https://acme.atlassian.net"
    custom = parse_install_payload(
        _payload(displayUrl="https://jira.acme.example/"), app_key="mail-connector"
    )
    assert custom.display_url == "https://jira.acme.example"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"baseUrl": "http://127.0.0.1:9000"}, "baseUrl"),
        ({"displayUrl": "javascript:alert(1)"}, "displayUrl"),
        ({"displayUrl": 7}, "displayUrl"),
    ],
)
def test_parse_install_payload_production_by_default_refuses_400(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InstallError) as refused:
        parse_install_payload(_payload(**changes), app_key="mail-connector")
    assert refused.value.status == 400 and field in str(refused.value)


@pytest.mark.parametrize("display_url", ["javascript:alert(1)", "data:text/html,hi"])
def test_install_development_javascript_display_url_refused_and_nothing_stored(
    running_app: RunningApp, fake_jira: FakeJira, display_url: str
) -> None:
    response = fake_jira.install(running_app.base_url, payload={"displayUrl": display_url})
    assert response.status_code == 400
    assert "displayUrl" in response.json()["error"]
    assert running_app.runtime.tenants.get(fake_jira.client_key) is None


def test_install_development_fake_jira_on_loopback_still_installs(
    running_app: RunningApp, fake_jira: FakeJira
) -> None:
    assert fake_jira.install(running_app.base_url).status_code == 204
    tenant = running_app.runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None and tenant.base_url.startswith("http://127.0.0.1:")


@pytest.fixture
def production(
    sqlite_url: str, encryption_key: str, fake_jira: FakeJira
) -> Iterator[tuple[TestClient, Runtime]]:
    settings = make_settings(
        base_url=PUBLIC_APP,
        database_url=sqlite_url,
        encryption_key=encryption_key,
        keys_url=fake_jira.install_keys_url,
    )
    assert settings.is_production
    engine = make_engine(sqlite_url)
    migrate(engine)
    runtime = Runtime.create(settings, engine=engine)
    app = create_app(settings, runtime=runtime, migrate_on_start=False)
    with TestClient(app, base_url=PUBLIC_APP) as client:
        yield client, runtime
    engine.dispose()


def _install(client: TestClient, fake_jira: FakeJira, **changes: Any) -> Any:
    url = f"{PUBLIC_APP}/lifecycle/installed"
    token = fake_jira.signed_install_token(url, app_base_url=PUBLIC_APP)
    body = fake_jira.lifecycle_payload("installed", "p" * 40) | changes
    return client.post(url, json=body, headers={"Authorization": f"JWT {token}"})


@pytest.mark.parametrize(
    "changes",
    [
        {},  # the fake site's own loopback baseUrl
        {"baseUrl": "https://evil.example"},
        {"baseUrl": "http://acme.atlassian.net"},
        {"baseUrl": "https://acme.atlassian.net", "displayUrl": "http://acme.atlassian.net"},
    ],
    ids=["loopback", "not-atlassian", "plain-http", "display-http"],
)
def test_install_production_non_atlassian_site_refused_400_and_nothing_stored(
    production: tuple[TestClient, Runtime], fake_jira: FakeJira, changes: dict[str, Any]
) -> None:
    client, runtime = production
    response = _install(client, fake_jira, **changes)
    assert response.status_code == 400, response.text
    assert runtime.tenants.get(fake_jira.client_key) is None


def test_install_production_atlassian_site_installs(
    production: tuple[TestClient, Runtime], fake_jira: FakeJira
) -> None:
    client, runtime = production
    response = _install(
        client,
        fake_jira,
        baseUrl="https://acme.atlassian.net",
        displayUrl="https://jira.acme.example",
    )
    assert response.status_code == 204, response.text
    tenant = runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None
    assert (tenant.base_url, tenant.display_url) == (
        "https://acme.atlassian.net",
        "https://jira.acme.example",
    )
