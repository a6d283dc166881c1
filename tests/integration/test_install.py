"""Installing into a Jira site end to end: the fake Jira signs lifecycle callbacks as Jira does."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp


def test_install_signed_install_stores_tenant(running_app: RunningApp, fake_jira: FakeJira) -> None:
    response = fake_jira.install(running_app.base_url)
    assert response.status_code == 204, response.text
    tenant = running_app.runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None
    assert tenant.shared_secret == fake_jira.shared_secret
    assert tenant.base_url == fake_jira.base_url
    assert tenant.active


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"signing_key": rsa.generate_private_key(65537, 2048)}, "signature"),
        ({"audience": "https://someone-else.example.com"}, "audience"),
        ({"issuer": "jira:another-site"}, "issuer"),
        ({"expires_in": -600}, "expired"),
        ({"kid": "no-such-key"}, "unknown key"),
        ({"qsh": "0" * 64}, "qsh"),
        ({"expires_in": 3600}, "lifetime"),
    ],
    ids=[
        "bad-signature",
        "wrong-audience",
        "wrong-issuer",
        "expired",
        "unknown-kid",
        "bad-qsh",
        "long-lived",
    ],
)
def test_install_bad_token_is_refused_and_stores_nothing(
    running_app: RunningApp, fake_jira: FakeJira, override: dict[str, Any], reason: str
) -> None:
    response = fake_jira.install(running_app.base_url, **override)
    assert response.status_code == 401
    assert reason in response.json()["error"]
    assert running_app.runtime.tenants.get(fake_jira.client_key) is None


def test_install_hs256_token_is_refused(running_app: RunningApp, fake_jira: FakeJira) -> None:
    response = fake_jira.install(running_app.base_url, algorithm="HS256")
    assert response.status_code == 401
    assert running_app.runtime.tenants.get(fake_jira.client_key) is None


def test_install_without_token_is_refused(running_app: RunningApp, fake_jira: FakeJira) -> None:
    response = fake_jira.install(running_app.base_url, token="")
    assert response.status_code == 401
    assert running_app.runtime.tenants.get(fake_jira.client_key) is None


def test_install_reinstall_rotates_shared_secret(
    running_app: RunningApp, fake_jira: FakeJira
) -> None:
    fake_jira.install(running_app.base_url)
    old_secret = fake_jira.shared_secret
    response = fake_jira.install(running_app.base_url, shared_secret="rotated-" + "s" * 40)
    assert response.status_code == 204
    tenant = running_app.runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None
    assert tenant.shared_secret == "rotated-" + "s" * 40 != old_secret


def test_install_keys_are_fetched_once_per_kid(
    running_app: RunningApp, fake_jira: FakeJira
) -> None:
    fake_jira.install(running_app.base_url)
    fake_jira.disable()
    fake_jira.enable()
    assert fake_jira.key_fetches == 1


def test_uninstall_disables_tenant_and_keeps_it(
    running_app: RunningApp, fake_jira: FakeJira
) -> None:
    fake_jira.install(running_app.base_url)
    assert fake_jira.uninstall().status_code == 204
    tenant = running_app.runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None
    assert not tenant.installed and not tenant.enabled
    # A webhook after uninstall is refused: the site no longer has the app.
    assert fake_jira.send_webhook("comment_created", {"comment": {}}).status_code == 401
    assert fake_jira.install(running_app.base_url).status_code == 204
    reinstalled = running_app.runtime.tenants.get(fake_jira.client_key)
    assert reinstalled is not None and reinstalled.active


def test_uninstall_signed_for_another_site_is_refused(
    running_app: RunningApp, fake_jira: FakeJira
) -> None:
    fake_jira.install(running_app.base_url)
    response = fake_jira.uninstall(issuer="jira:another-site")
    assert response.status_code == 401
    tenant = running_app.runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None and tenant.active


def test_disable_then_enable_toggles_tenant(running_app: RunningApp, fake_jira: FakeJira) -> None:
    fake_jira.install(running_app.base_url)
    assert fake_jira.disable().status_code == 204
    disabled = running_app.runtime.tenants.get(fake_jira.client_key)
    assert disabled is not None and disabled.installed and not disabled.enabled
    assert fake_jira.enable().status_code == 204
    enabled = running_app.runtime.tenants.get(fake_jira.client_key)
    assert enabled is not None and enabled.active


def test_install_stores_oauth_client_id_and_accepts_none(
    running_app: RunningApp, fake_jira: FakeJira
) -> None:
    assert fake_jira.install(running_app.base_url).status_code == 204
    tenant = running_app.runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None and tenant.oauth_client_id == fake_jira.oauth_client_id
    # A site that sends none (an app without ACT_AS_USER) installs all the same.
    assert fake_jira.install(running_app.base_url, payload={"oauthClientId": None}).is_success
    tenant = running_app.runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None and tenant.oauth_client_id is None


@pytest.mark.parametrize("value", ["", "has space", "x" * 256, 42])
def test_install_bad_oauth_client_id_is_refused_400(
    running_app: RunningApp, fake_jira: FakeJira, value: object
) -> None:
    response = fake_jira.install(running_app.base_url, payload={"oauthClientId": value})
    assert response.status_code == 400
    assert "oauthClientId" in response.json()["error"]
    assert running_app.runtime.tenants.get(fake_jira.client_key) is None
