"""Connect user impersonation: the assertion's claims and signature, the token exchange with
a fake authorization server on loopback, caching, refusals, retryable failures, and where the
credentials may go."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt as pyjwt
import pytest

from connector.jira.auth import BearerTokenAuth
from connector.jira.errors import JiraRateLimited, JiraUnavailable
from connector.jira.impersonation import (
    ASSERTION_TTL_SECONDS,
    EXPIRY_MARGIN_SECONDS,
    ImpersonationRefused,
    UserTokens,
    assertion_claims,
    encode_assertion,
)
from connector.tenant import Tenant
from tests.fakes.authorization import AuthorizationServer

SECRET = "tenant-shared-secret-" + "s" * 40
CLIENT_ID = "oauth-client-0123"
SITE = "https://acme.atlassian.example"


def _tenant(oauth_client_id: str | None = CLIENT_ID, secret: str = SECRET) -> Tenant:
    return Tenant(1, "jira:acme", SITE, SITE, "jira", secret, True, True, oauth_client_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[AuthorizationServer]:
    server = AuthorizationServer(token_seconds=900)
    server.start()
    server.register(CLIENT_ID, SITE, lambda: SECRET)
    yield server
    server.stop()


@pytest.fixture
def fresh(server: AuthorizationServer) -> AuthorizationServer:
    server.allow(CLIENT_ID)
    return server


def _requests_for(server: AuthorizationServer, account_id: str) -> int:
    return sum(1 for r in server.token_requests if r.account_id == account_id)


# --- the assertion ------------------------------------------------------------------------------


def test_assertion_claims_name_app_user_site_and_server() -> None:
    claims = assertion_claims(
        oauth_client_id=CLIENT_ID,
        account_id="5b10ac8d82e05b22cc7d4ef5",
        site_url=SITE + "/",
        audience="https://oauth-2-authorization-server.services.atlassian.com/",
        now=1_700_000_000.7,
    )
    assert claims == {
        "iss": "urn:atlassian:connect:clientid:oauth-client-0123",
        "sub": "urn:atlassian:connect:useraccountid:5b10ac8d82e05b22cc7d4ef5",
        "tnt": SITE,
        "aud": "https://oauth-2-authorization-server.services.atlassian.com",
        "iat": 1_700_000_000,
        "exp": 1_700_000_000 + ASSERTION_TTL_SECONDS,
    }
    # Atlassian refuses assertions valid for longer than two minutes; ours carry no qsh.
    assert claims["exp"] - claims["iat"] <= 120
    assert "qsh" not in claims


def test_assertion_is_hs256_signed_with_the_tenant_secret() -> None:
    claims = assertion_claims(
        oauth_client_id=CLIENT_ID,
        account_id="acc-1",
        site_url=SITE,
        audience="https://a.example",
        now=1_700_000_000,
    )
    token = encode_assertion(claims, SECRET)
    assert pyjwt.get_unverified_header(token)["alg"] == "HS256"
    decoded = pyjwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        audience="https://a.example",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert decoded == claims
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(
            token,
            "another-secret-" + "x" * 40,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_aud": False},
        )


@pytest.mark.parametrize(("client_id", "account_id"), [("", "acc-1"), (CLIENT_ID, "")])
def test_assertion_without_client_or_account_is_refused(client_id: str, account_id: str) -> None:
    with pytest.raises(ValueError, match="OAuth client id and an account id"):
        assertion_claims(
            oauth_client_id=client_id, account_id=account_id, site_url=SITE, audience=SITE, now=0
        )


@pytest.mark.parametrize("url", ["ftp://auth.example", "auth.example", "https://a.example/?x=1"])
def test_user_tokens_bad_server_url_is_refused_naming_it(url: str) -> None:
    with pytest.raises(ValueError, match="authorization server URL"):
        UserTokens(url)


# --- the exchange -------------------------------------------------------------------------------


def test_token_granted_and_cached_per_tenant_and_account(fresh: AuthorizationServer) -> None:
    tokens = UserTokens(fresh.url)
    first = tokens.token(_tenant(), "acc-cache")
    assert tokens.token(_tenant(), "acc-cache") == first
    assert _requests_for(fresh, "acc-cache") == 1
    grant = fresh.grant_for(first)
    assert grant is not None
    assert (grant.oauth_client_id, grant.account_id) == (CLIENT_ID, "acc-cache")
    assert grant.scopes == {"READ", "WRITE"}
    other = tokens.token(_tenant(), "acc-cache-2")
    assert other != first and _requests_for(fresh, "acc-cache-2") == 1


def test_token_near_expiry_is_replaced(fresh: AuthorizationServer) -> None:
    clock = Clock()
    tokens = UserTokens(fresh.url, clock=clock)
    first = tokens.token(_tenant(), "acc-expiry")
    clock.now += fresh.token_seconds - EXPIRY_MARGIN_SECONDS - 1
    assert tokens.token(_tenant(), "acc-expiry") == first
    clock.now += 2
    assert tokens.token(_tenant(), "acc-expiry") != first
    assert _requests_for(fresh, "acc-expiry") == 2


def test_token_discarded_is_asked_for_again(fresh: AuthorizationServer) -> None:
    tokens = UserTokens(fresh.url)
    first = tokens.token(_tenant(), "acc-discard")
    tokens.discard(_tenant(), "acc-discard")
    assert tokens.token(_tenant(), "acc-discard") != first


def test_refusal_says_why_and_is_remembered_briefly(fresh: AuthorizationServer) -> None:
    fresh.refuse(CLIENT_ID, account_id="acc-refused", status=403)
    clock = Clock()
    tokens = UserTokens(fresh.url, clock=clock)
    with pytest.raises(ImpersonationRefused) as refused:
        tokens.token(_tenant(), "acc-refused")
    assert refused.value.reason == (
        "the site does not let the app act as this user "
        "(authorization server answered 403: unauthorized_client)"
    )
    with pytest.raises(ImpersonationRefused):
        tokens.token(_tenant(), "acc-refused")
    assert _requests_for(fresh, "acc-refused") == 1
    fresh.allow(CLIENT_ID)
    clock.now += 301
    assert tokens.token(_tenant(), "acc-refused")


def test_assertion_signed_with_wrong_secret_is_refused(fresh: AuthorizationServer) -> None:
    tokens = UserTokens(fresh.url)
    with pytest.raises(ImpersonationRefused, match="answered 400: invalid_grant"):
        tokens.token(_tenant(secret="not-the-secret-" + "x" * 40), "acc-wrong-secret")


def test_tenant_without_oauth_client_id_has_no_user_clients(fresh: AuthorizationServer) -> None:
    assert UserTokens(fresh.url).clients(_tenant(oauth_client_id=None)) is None


def test_server_unavailable_or_throttling_is_retryable(fresh: AuthorizationServer) -> None:
    tokens = UserTokens(fresh.url)
    fresh.inject_fault(503)
    with pytest.raises(JiraUnavailable) as down:
        tokens.token(_tenant(), "acc-retry")
    assert down.value.retryable
    fresh.inject_fault(429, headers={"Retry-After": "7"})
    with pytest.raises(JiraRateLimited) as throttled:
        tokens.token(_tenant(), "acc-retry")
    assert throttled.value.retry_after == 7
    # Neither was remembered as a refusal: the next request gets a token.
    assert tokens.token(_tenant(), "acc-retry")


def test_server_unreachable_is_retryable() -> None:
    tokens = UserTokens("http://127.0.0.1:9", timeout_seconds=2)
    with pytest.raises(JiraUnavailable, match="could not be reached"):
        tokens.token(_tenant(), "acc-1")


# --- where credentials go -----------------------------------------------------------------------


def test_redirect_from_server_is_not_followed_with_the_assertion(
    fresh: AuthorizationServer,
) -> None:
    elsewhere = AuthorizationServer()
    elsewhere.start()
    try:
        elsewhere.register(CLIENT_ID, SITE, lambda: SECRET)
        fresh.inject_fault(307, headers={"Location": elsewhere.url + "/oauth2/token"})
        with pytest.raises(ImpersonationRefused, match="answered 307"):
            UserTokens(fresh.url).token(_tenant(), "acc-redirect")
        assert elsewhere.token_requests == []
    finally:
        elsewhere.stop()


def test_user_client_sends_bearer_only_to_the_site_origin(fresh: AuthorizationServer) -> None:
    clients = UserTokens(fresh.url).clients(_tenant())
    assert clients is not None
    client = clients.client_for("acc-origin")
    auth = client.site.auth
    assert isinstance(auth, BearerTokenAuth)
    own = auth.sign(httpx.Request("POST", SITE + "/rest/api/3/issue/SUP-1/comment"))
    token = own.headers["Authorization"].removeprefix("Bearer ")
    assert fresh.grant_for(token) is not None
    for url in (
        "https://evil.example/rest/api/3/issue/SUP-1/comment",
        "http://acme.atlassian.example/rest/api/3/myself",  # same host, other scheme
        "https://acme.atlassian.example:8443/rest/api/3/myself",  # other port
    ):
        other = auth.sign(httpx.Request("GET", url, headers={"Authorization": "x"}))
        assert "Authorization" not in other.headers
