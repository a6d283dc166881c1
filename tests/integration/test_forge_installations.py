"""Forge installations become tenants, in either order with the Connect install, and keep the
system token Forge hands over, encrypted, with its expiry."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import jwt as pyjwt
import pytest
from sqlmodel import Session, select

from connector.connect.jwt import encode_token
from connector.storage.models import ForgeInstallationRow
from tests.fakes.forge import INSTALLATION_ID, FakeForge
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.forge_support import INSTALLED, REFRESH, ForgeSite


@pytest.fixture
def site(forge_app: RunningApp, fake_jira: FakeJira, forge: FakeForge) -> ForgeSite:
    return ForgeSite(forge_app, fake_jira, forge)


def _rows(app: RunningApp) -> list[ForgeInstallationRow]:
    with Session(app.runtime.engine) as session:
        return list(session.exec(select(ForgeInstallationRow)).all())


def test_forge_installed_event_makes_tenant_without_connect_secret(site: ForgeSite) -> None:
    token = site.install()
    tenant = site.tenant()
    assert tenant.shared_secret is None
    assert tenant.active
    assert tenant.base_url == site.jira.api_base_url
    assert tenant.forge is not None
    assert tenant.forge.system_token == token
    exp = pyjwt.decode(token, options={"verify_signature": False})["exp"]
    assert tenant.forge.token_expires_at == datetime.fromtimestamp(exp, UTC)
    (row,) = _rows(site.app)
    assert row.cloud_id == site.jira.system_tokens.cloud_id
    assert row.system_token_encrypted is not None and token not in row.system_token_encrypted


def test_forge_installed_event_retried_is_one_installation(site: ForgeSite) -> None:
    site.install()
    first = site.tenant().id
    again = site.jira.system_tokens.issue()
    for retry in (1, 2):
        assert site.send(INSTALLED, again, retry_count=retry).status_code == 200
    assert site.tenant().id == first
    assert len(_rows(site.app)) == 1
    assert len(site.app.runtime.tenants.ids()) == 1


def test_forge_scheduled_refresh_replaces_system_token(site: ForgeSite) -> None:
    site.install()
    fresh = site.jira.system_tokens.issue(lifetime_seconds=4 * 3600)
    response = site.send(REFRESH, fresh)
    assert response.status_code == 200 and response.json() == {"status": "received"}
    forge = site.tenant().forge
    assert forge is not None and forge.system_token == fresh


def test_forge_refresh_without_system_token_keeps_the_last_one(site: ForgeSite) -> None:
    token = site.install()
    assert site.send(REFRESH, None).status_code == 200
    forge = site.tenant().forge
    assert forge is not None and forge.system_token == token


def test_connect_install_first_then_forge_event_is_one_tenant(site: ForgeSite) -> None:
    jira = site.jira
    payload = {"installationId": INSTALLATION_ID}
    assert jira.install(site.app.base_url, payload=payload).status_code == 204
    connect = site.app.runtime.tenants.get(jira.client_key)
    assert connect is not None and connect.forge is not None
    assert connect.forge.api_base_url is None
    site.install()
    tenant = site.tenant()
    assert tenant.id == connect.id
    assert tenant.shared_secret == jira.shared_secret  # still a Connect tenant
    assert tenant.base_url == jira.base_url
    assert tenant.forge is not None and tenant.forge.api_base_url == jira.api_base_url
    assert len(site.app.runtime.tenants.ids()) == 1


def test_forge_event_first_then_connect_install_adopts_the_tenant(site: ForgeSite) -> None:
    site.install()
    forge_only = site.tenant()
    jira = site.jira
    payload = {"installationId": INSTALLATION_ID}
    assert jira.install(site.app.base_url, payload=payload).status_code == 204
    tenant = site.app.runtime.tenants.get(jira.client_key)
    assert tenant is not None
    assert tenant.id == forge_only.id
    assert tenant.shared_secret == jira.shared_secret
    assert tenant.base_url == jira.base_url
    assert site.tenant().id == tenant.id
    assert site.app.runtime.tenants.get(INSTALLATION_ID) is None


def test_connect_jwt_naming_forge_only_tenant_is_refused(site: ForgeSite) -> None:
    site.install()
    # No secret is stored for the tenant, so whatever key signs it, no Connect JWT is its own.
    token = encode_token(
        issuer=INSTALLATION_ID,
        shared_secret="any-key-someone-chose-for-this-site",
        target=None,
        extra_claims={"sub": "someone"},
    )
    response = httpx.get(
        f"{site.app.base_url}/api/v1/mail-sources",
        headers={"Authorization": f"JWT {token}"},
        timeout=10,
    )
    assert response.status_code == 401
    assert "not an installed Jira site" in response.json()["error"]
