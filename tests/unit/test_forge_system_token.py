"""The Forge app system token: its expiry read from `exp`, and the Jira strategy that uses it
(connector/forge/system_token.py, connector/jira/auth.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt as pyjwt
import pytest

from connector.forge.system_token import (
    FALLBACK_LIFETIME,
    MAX_LIFETIME,
    token_expiry,
    usable_token,
)
from connector.jira.auth import (
    PENDING_MESSAGE,
    ConnectJwtAuth,
    CredentialsPending,
    SystemTokenAuth,
    tenant_site,
)
from connector.jira.client import JiraClient
from connector.jira.errors import JiraUnavailable
from connector.tenant import ForgeAccess, Tenant

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
GATEWAY = "https://api.atlassian.com/ex/jira/0c8a1b2d-3e4f-4a5b-9c6d-7e8f9a0b1c2d"


def _token(**claims: object) -> str:
    return pyjwt.encode(dict(claims), "a-key-only-atlassian-knows-0123456789", algorithm="HS256")


def _tenant(*, shared_secret: str | None, forge: ForgeAccess | None) -> Tenant:
    return Tenant(
        id=1,
        client_key="ari:cloud:ecosystem::installation/1",
        base_url=GATEWAY if shared_secret is None else "https://site.atlassian.net",
        display_url="https://site.atlassian.net",
        product_type="jira",
        shared_secret=shared_secret,
        installed=True,
        enabled=True,
        forge=forge,
    )


def test_token_expiry_is_read_from_exp() -> None:
    exp = NOW + timedelta(minutes=55)
    assert token_expiry(_token(exp=int(exp.timestamp())), now=NOW) == exp


@pytest.mark.parametrize(
    "token",
    ["opaque-not-a-jwt", _token(sub="x"), _token(exp="tomorrow"), _token(exp=True)],
    ids=["opaque", "no-exp", "exp-text", "exp-bool"],
)
def test_token_expiry_unreadable_falls_back_to_cautious_lifetime(token: str) -> None:
    assert token_expiry(token, now=NOW) == NOW + FALLBACK_LIFETIME


def test_token_expiry_beyond_forge_maximum_is_capped() -> None:
    far = NOW + timedelta(days=30)
    assert token_expiry(_token(exp=int(far.timestamp())), now=NOW) == NOW + MAX_LIFETIME


@pytest.mark.parametrize("value", [None, "", "  ", "two words", "x" * 20000, "caf\u00e9"])
def test_usable_token_refuses_what_is_not_a_token(value: str | None) -> None:
    assert usable_token(value) is None


def test_usable_token_keeps_a_token() -> None:
    assert usable_token(" abc.def.ghi ") == "abc.def.ghi"


def test_system_token_auth_sends_bearer_to_gateway_only() -> None:
    auth = SystemTokenAuth(
        GATEWAY, token="tok-1", expires_at=NOW + timedelta(hours=1), clock=lambda: NOW
    )
    signed = auth.sign(httpx.Request("GET", f"{GATEWAY}/rest/api/3/myself"))
    assert signed.headers["Authorization"] == "Bearer tok-1"
    elsewhere = auth.sign(httpx.Request("GET", "https://evil.example/rest/api/3/myself"))
    assert "Authorization" not in elsewhere.headers
    assert auth.pending_reason() is None


@pytest.mark.parametrize(
    ("token", "expires_at"),
    [(None, None), ("tok", NOW - timedelta(seconds=1)), ("tok", NOW + timedelta(seconds=30))],
    ids=["none-handed-over", "expired", "about-to-expire"],
)
def test_system_token_auth_without_valid_token_is_pending(
    token: str | None, expires_at: datetime | None
) -> None:
    auth = SystemTokenAuth(GATEWAY, token=token, expires_at=expires_at, clock=lambda: NOW)
    assert auth.pending_reason() == PENDING_MESSAGE
    with pytest.raises(CredentialsPending):
        auth.sign(httpx.Request("GET", f"{GATEWAY}/rest/api/3/myself"))


def test_tenant_site_connect_tenant_keeps_connect_jwt() -> None:
    forge = ForgeAccess("inst", GATEWAY, "tok", NOW + timedelta(hours=1))
    site = tenant_site(_tenant(shared_secret="s" * 32, forge=forge), app_key="mail-connector")
    assert isinstance(site.auth, ConnectJwtAuth)
    assert site.base_url == "https://site.atlassian.net"


def test_tenant_site_forge_only_tenant_uses_gateway_and_system_token() -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)
    forge = ForgeAccess("inst", GATEWAY, "tok", expires)
    site = tenant_site(_tenant(shared_secret=None, forge=forge), app_key="mail-connector")
    assert isinstance(site.auth, SystemTokenAuth)
    assert site.base_url == GATEWAY
    assert site.pending_reason() is None


def test_jira_client_expired_system_token_raises_retryable_without_sending() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    transport = httpx.MockTransport(answer)
    forge = ForgeAccess("inst", GATEWAY, "tok", datetime.now(UTC) - timedelta(minutes=1))
    site = tenant_site(_tenant(shared_secret=None, forge=forge), app_key="mail-connector")
    client = JiraClient(site, session=httpx.Client(transport=transport))
    with pytest.raises(JiraUnavailable) as raised:
        client.myself()
    assert raised.value.retryable
    assert PENDING_MESSAGE in str(raised.value)
    assert sent == []
