"""Outgoing Jira auth strategies (connector/jira/auth.py) and the retry session."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest

from connector.connect import jwt as cj
from connector.jira.auth import ApiTokenAuth, BearerTokenAuth, ConnectJwtAuth, tenant_site
from connector.jira.dialect import CLOUD, DATA_CENTER
from connector.jira.session import parse_retry_after
from connector.tenant import CLOUD_SITE, DATACENTER_SITE, SiteAccess, Tenant

SECRET = "tenant-shared-secret-0123456789abcdefghij"


def _request(url: str, method: str = "GET") -> httpx.Request:
    return httpx.Request(method, url)


def test_connect_auth_signs_request_to_own_site_with_qsh_of_final_url() -> None:
    auth = ConnectJwtAuth(
        "https://site.atlassian.net", app_key="mail-connector", shared_secret=SECRET
    )
    request = auth.sign(
        _request("https://site.atlassian.net/rest/api/3/search/jql?jql=a%20%3D%20b&x=1")
    )
    scheme, token = request.headers["Authorization"].split(" ", 1)
    assert scheme == "JWT"
    target = cj.request_target("GET", "/rest/api/3/search/jql?x=1&jql=a+%3D+b")
    claims = cj.verify_tenant_token(token, SECRET, target=target)
    assert claims["iss"] == "mail-connector"


def test_connect_auth_site_with_context_path_strips_it_from_qsh() -> None:
    auth = ConnectJwtAuth("https://jira.example.com/jira", app_key="k", shared_secret=SECRET)
    request = auth.sign(_request("https://jira.example.com/jira/rest/api/3/myself", "POST"))
    token = request.headers["Authorization"].split(" ", 1)[1]
    cj.verify_tenant_token(token, SECRET, target=cj.request_target("POST", "/rest/api/3/myself"))


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _token(auth: ConnectJwtAuth, url: str, method: str = "GET") -> str:
    return auth.sign(_request(url, method)).headers["Authorization"].split(" ", 1)[1]


def test_connect_auth_reuses_a_young_token_for_the_same_request_shape_only() -> None:
    clock = _Clock(1_800_000_000.0)
    site = "https://site.atlassian.net"
    auth = ConnectJwtAuth(site, app_key="k", shared_secret=SECRET, clock=clock)
    create = _token(auth, f"{site}/rest/api/3/issue", "POST")
    clock.now += 30
    assert _token(auth, f"{site}/rest/api/3/issue", "POST") == create
    # Another method, path or query is another qsh, so another token.
    others = {
        _token(auth, f"{site}/rest/api/3/issue", "PUT"),
        _token(auth, f"{site}/rest/api/3/issue/SUP-1/comment", "POST"),
        _token(auth, f"{site}/rest/api/3/issue?updateHistory=true", "POST"),
    }
    assert create not in others
    assert len(others) == 3
    target = cj.request_target("POST", "/rest/api/3/issue")
    claims = cj.verify_tenant_token(create, SECRET, target=target, now=clock.now)
    assert claims["qsh"] == cj.query_string_hash(target)


def test_connect_auth_signs_again_once_the_token_is_no_longer_young() -> None:
    clock = _Clock(1_800_000_000.0)
    auth = ConnectJwtAuth("https://s.example", app_key="k", shared_secret=SECRET, clock=clock)
    first = _token(auth, "https://s.example/rest/api/3/myself")
    clock.now += ConnectJwtAuth.REUSE_SECONDS
    second = _token(auth, "https://s.example/rest/api/3/myself")
    assert second != first
    _, claims = cj.read_unverified(second)
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] - clock.now >= 180 - 1


def test_connect_auth_token_cache_is_bounded() -> None:
    auth = ConnectJwtAuth("https://s.example", app_key="k", shared_secret=SECRET)
    for number in range(ConnectJwtAuth.CACHE_SIZE + 10):
        _token(auth, f"https://s.example/rest/api/3/issue/SUP-{number}")
    assert len(auth._tokens) == ConnectJwtAuth.CACHE_SIZE


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/rest/api/3/myself",
        "http://site.atlassian.net/rest/api/3/myself",
        "https://site.atlassian.net:8443/rest/api/3/myself",
        "https://site.atlassian.net.evil.example/rest/api/3/myself",
    ],
)
def test_site_auth_other_origin_gets_no_credentials(url: str) -> None:
    for auth in (
        ConnectJwtAuth("https://site.atlassian.net", app_key="k", shared_secret=SECRET),
        ApiTokenAuth("https://site.atlassian.net", email="a@example.com", api_token="tok"),
        BearerTokenAuth("https://site.atlassian.net", token="tok"),
    ):
        prepared = _request(url)
        prepared.headers["Authorization"] = "left over"
        assert "Authorization" not in auth.sign(prepared).headers


def test_api_token_auth_is_basic_email_and_token() -> None:
    auth = ApiTokenAuth("https://jira.example.com", email="bot@example.com", api_token="tok-1")
    header = auth.sign(_request("https://jira.example.com/rest/api/3/myself")).headers[
        "Authorization"
    ]
    assert header == "Basic " + base64.b64encode(b"bot@example.com:tok-1").decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [("5", 5.0), ("0", 0.0), (" 2.5 ", 2.5), ("", None), (None, None), ("soon", None)],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date_is_relative_to_now() -> None:
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Sat, 21 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sat, 21 Nov 2026 11:00:00 GMT", now=now) == 0.0


def _site_tenant(kind: str, email: str | None) -> Tenant:
    return Tenant(
        id=1,
        client_key="site:https://site.example",
        base_url="https://site.example",
        display_url="https://site.example",
        product_type="jira",
        shared_secret=None,
        installed=True,
        enabled=True,
        site=SiteAccess(kind=kind, email=email, token="the-token-0123456789", account_id="a"),
    )


def test_site_without_install_uses_its_token_basic_for_cloud_bearer_for_data_center() -> None:
    cloud = _site_tenant(CLOUD_SITE, "svc@example.com")
    assert cloud.kind == CLOUD_SITE
    cloud_site = tenant_site(cloud, app_key="k")
    signed = cloud_site.auth
    assert isinstance(signed, ApiTokenAuth)
    header = signed.sign(_request("https://site.example/rest/api/3/myself")).headers
    assert base64.b64decode(header["Authorization"].split(" ", 1)[1]) == (
        b"svc@example.com:the-token-0123456789"
    )
    datacenter = _site_tenant(DATACENTER_SITE, None)
    assert datacenter.kind == DATACENTER_SITE
    datacenter_site = tenant_site(datacenter, app_key="k")
    assert datacenter_site.dialect is DATA_CENTER and cloud_site.dialect is CLOUD
    bearer = datacenter_site.auth
    assert isinstance(bearer, BearerTokenAuth)
    request = bearer.sign(_request("https://site.example/rest/api/2/myself"))
    assert request.headers["Authorization"] == "Bearer the-token-0123456789"
    elsewhere = bearer.sign(_request("https://other.example/rest/api/2/myself"))
    assert "Authorization" not in elsewhere.headers
