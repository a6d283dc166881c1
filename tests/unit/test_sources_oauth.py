"""OAuth2 for mailboxes against respx-mocked Google and Microsoft endpoints.

Microsoft's side runs through the real msal: every request it makes must be mocked here
(respx refuses unmocked ones), which shows it needs only the tenant's OpenID configuration
and the token endpoint. login.microsoftonline.com is a host msal knows, so it validates the
authority without instance discovery; `oauth.py` also turns off the alias look-up msal would
otherwise make at login.microsoftonline.com/common/discovery/instance after a refused request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from connector.sources.config import SourceConfig
from connector.sources.errors import SourceAuthError, SourceConfigError, SourceConnectionError
from connector.sources.oauth import (
    GOOGLE_TOKEN_ENDPOINT,
    AuthorizationStart,
    OAuthError,
    OAuthStateMismatch,
    client_credentials,
    finish_authorization,
    refresh,
    start_authorization,
)
from connector.sources.oauth_config import OAuthClientConfig, OAuthTokens
from connector.sources.token_provider import TokenProvider

REDIRECT = "https://connector.example.com/api/v1/oauth/callback"
STATE = "Yq3m0b8HcWZr1f5N2kLx"
TENANT = "contoso.onmicrosoft.com"
TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
MS_TOKEN_ENDPOINT = f"https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token"
GOOGLE_SECRET = "GOCSPX-google-client-secret"
MS_SECRET = "ms~client~secret~value"
# Distinctive token values, so a leak anywhere is found by a plain substring search.
SECRETS = (
    GOOGLE_SECRET,
    MS_SECRET,
    "ya29.google-access-token",
    "1//google-refresh-token",
    "eyJ0eXAi.ms-access-token",
    "0.AAAA-ms-refresh-token",
    "0.BBBB-ms-rotated-refresh-token",
)


def google() -> OAuthClientConfig:
    return OAuthClientConfig(
        "google", "1234-abc.apps.googleusercontent.com", GOOGLE_SECRET, redirect_uri=REDIRECT
    )


def microsoft(**overrides: Any) -> OAuthClientConfig:
    settings: dict[str, Any] = {
        "provider": "microsoft",
        "client_id": "6731de76-14a6-49ae-97bc-6eba6914391e",
        "client_secret": MS_SECRET,
        "redirect_uri": REDIRECT,
        "tenant": TENANT,
    }
    return OAuthClientConfig(**(settings | overrides))


def id_token(**claims: Any) -> str:
    """An unsigned-looking JWT with the claims given: neither side checks its signature."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    body = {"iat": now, "nbf": now, "exp": now + 3600} | claims
    return f"{part({'alg': 'RS256', 'typ': 'JWT', 'kid': 'k1'})}.{part(body)}.c2lnbmF0dXJl"


def form(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def http() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        # Shape of https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration
        base = f"https://login.microsoftonline.com/{TENANT_ID}"
        router.get(
            f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration"
        ).respond(
            json={
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                "jwks_uri": f"https://login.microsoftonline.com/{TENANT_ID}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "response_types_supported": ["code", "id_token", "code id_token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"https://login.microsoftonline.com/{TENANT_ID}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
            }
        )
        yield router


def google_tokens(expires_in: int) -> OAuthTokens:
    return OAuthTokens(
        "ya29.google-access-token",
        "1//google-refresh-token",
        datetime.now(UTC) + timedelta(seconds=expires_in),
        ("https://mail.google.com/",),
        "support@example.com",
    )


# -- starting a sign-in ---------------------------------------------------------------------


def test_oauth_start_google_url_carries_client_redirect_scope_state_and_pkce() -> None:
    start = start_authorization(google(), STATE, login_hint="support@example.com")
    params = query(start.url)
    verifier = start.flow_state["flow"]["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert start.url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert params["client_id"] == "1234-abc.apps.googleusercontent.com"
    assert params["redirect_uri"] == REDIRECT
    assert "https://mail.google.com/" in params["scope"].split()
    assert params["state"] == STATE and params["response_type"] == "code"
    assert params["code_challenge"] == challenge.rstrip(b"=").decode()
    assert params["code_challenge_method"] == "S256"
    assert (params["access_type"], params["login_hint"]) == ("offline", "support@example.com")
    assert 43 <= len(verifier) <= 128 and verifier not in start.url
    assert json.loads(json.dumps(start.flow_state)) == start.flow_state


def test_oauth_start_microsoft_url_from_msal_carries_pkce_and_offline_access(
    http: respx.MockRouter,
) -> None:
    start = start_authorization(microsoft(), STATE)
    params = query(start.url)
    assert start.url.startswith(
        f"https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/authorize?"
    )
    assert params["client_id"] == "6731de76-14a6-49ae-97bc-6eba6914391e"
    assert params["redirect_uri"] == REDIRECT and params["state"] == STATE
    scopes = params["scope"].split()
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in scopes
    assert "https://outlook.office.com/SMTP.Send" in scopes  # notifications from the same account
    assert "offline_access" in scopes
    assert params["code_challenge"] and params["code_challenge_method"] == "S256"
    assert json.loads(json.dumps(start.flow_state)) == start.flow_state


def test_oauth_start_graph_scopes_differ_from_imap(http: respx.MockRouter) -> None:
    scopes = query(start_authorization(microsoft(protocol="graph"), STATE).url)["scope"].split()
    assert "https://graph.microsoft.com/Mail.ReadWrite" in scopes
    assert "https://graph.microsoft.com/Mail.Send" in scopes
    assert not any("outlook.office.com" in scope for scope in scopes)


def test_oauth_start_without_redirect_uri_or_with_short_state_refused() -> None:
    with pytest.raises(SourceConfigError) as raised:
        start_authorization(microsoft(redirect_uri=None), STATE)
    assert raised.value.field == "redirect_uri"
    with pytest.raises(ValueError):
        start_authorization(google(), "short")


# -- finishing it -----------------------------------------------------------------------------


def test_oauth_finish_google_good_code_returns_tokens(http: respx.MockRouter) -> None:
    token_route = http.post(GOOGLE_TOKEN_ENDPOINT).respond(
        json={
            "access_token": "ya29.google-access-token",
            "expires_in": 3599,
            "refresh_token": "1//google-refresh-token",
            "scope": "https://mail.google.com/ openid https://www.googleapis.com/auth/userinfo.email",
            "token_type": "Bearer",
            "id_token": id_token(email="support@example.com", aud="1234"),
        }
    )
    start = start_authorization(google(), STATE)
    tokens = finish_authorization(
        google(), start.flow_state, {"state": STATE, "code": "4/0AQSTgQE-code", "scope": "x"}
    )
    sent = form(token_route.calls.last.request)
    assert sent["grant_type"] == "authorization_code" and sent["code"] == "4/0AQSTgQE-code"
    assert sent["code_verifier"] == start.flow_state["flow"]["code_verifier"]
    assert (sent["redirect_uri"], sent["client_secret"]) == (REDIRECT, GOOGLE_SECRET)
    assert tokens.access_token == "ya29.google-access-token"
    assert tokens.refresh_token == "1//google-refresh-token"
    assert tokens.account == "support@example.com"
    assert "https://mail.google.com/" in tokens.scopes
    assert timedelta(minutes=58) < tokens.expires_at - datetime.now(UTC) <= timedelta(hours=1)


def test_oauth_finish_microsoft_good_code_returns_tokens(http: respx.MockRouter) -> None:
    start = start_authorization(microsoft(), STATE)
    token_route = http.post(MS_TOKEN_ENDPOINT).respond(
        json={
            "token_type": "Bearer",
            "scope": "https://outlook.office.com/IMAP.AccessAsUser.All",
            "expires_in": 4976,
            "ext_expires_in": 4976,
            "access_token": "eyJ0eXAi.ms-access-token",
            "refresh_token": "0.AAAA-ms-refresh-token",
            "id_token": id_token(
                aud="6731de76-14a6-49ae-97bc-6eba6914391e",
                iss=f"https://login.microsoftonline.com/{TENANT_ID}/v2.0",
                tid=TENANT_ID,
                oid="00000000-0000-0000-66f3-3332eca7ea81",
                sub="AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
                preferred_username="helpdesk@contoso.com",
                nonce=query(start.url)["nonce"],  # echoed from the authorisation request
            ),
        }
    )
    tokens = finish_authorization(
        microsoft(), start.flow_state, {"code": "M.C507_BAY.2.U.code", "state": STATE}
    )
    sent = form(token_route.calls.last.request)
    assert sent["grant_type"] == "authorization_code" and sent["code"] == "M.C507_BAY.2.U.code"
    assert sent["code_verifier"] == start.flow_state["flow"]["code_verifier"]
    assert tokens.access_token == "eyJ0eXAi.ms-access-token"
    assert tokens.refresh_token == "0.AAAA-ms-refresh-token"
    assert tokens.account == "helpdesk@contoso.com"


def test_oauth_finish_microsoft_replayed_id_token_refused(http: respx.MockRouter) -> None:
    start = start_authorization(microsoft(), STATE)
    http.post(MS_TOKEN_ENDPOINT).respond(
        json={
            "token_type": "Bearer",
            "expires_in": 3600,
            "access_token": "eyJ0eXAi.ms-access-token",
            "refresh_token": "0.AAAA-ms-refresh-token",
            "id_token": id_token(
                aud="6731de76-14a6-49ae-97bc-6eba6914391e",
                iss=f"https://login.microsoftonline.com/{TENANT_ID}/v2.0",
                tid=TENANT_ID,
                sub="AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
                nonce="a-nonce-from-another-sign-in",
            ),
        }
    )
    with pytest.raises(OAuthError) as raised:
        finish_authorization(microsoft(), start.flow_state, {"code": "c", "state": STATE})
    assert raised.value.error == "invalid_response" and "nonce" in raised.value.server_message


@pytest.mark.parametrize("config", [google(), microsoft()], ids=["google", "microsoft"])
def test_oauth_finish_state_mismatch_refused_before_any_token_request(
    http: respx.MockRouter, config: OAuthClientConfig
) -> None:
    start = start_authorization(config, STATE)
    google_route = http.post(GOOGLE_TOKEN_ENDPOINT).respond(json={})
    ms_route = http.post(MS_TOKEN_ENDPOINT).respond(json={})
    with pytest.raises(OAuthStateMismatch) as raised:
        finish_authorization(config, start.flow_state, {"code": "c", "state": "forged-state-xyz"})
    assert "start the sign-in again" in str(raised.value)
    assert isinstance(raised.value, SourceAuthError)
    assert not google_route.called and not ms_route.called


def test_oauth_finish_provider_refusal_carries_its_words() -> None:
    start = start_authorization(google(), STATE)
    callback = {"state": STATE, "error": "access_denied", "error_description": "User said no"}
    with pytest.raises(OAuthError) as raised:
        finish_authorization(google(), start.flow_state, callback)
    assert (raised.value.error, raised.value.error_description) == ("access_denied", "User said no")
    assert raised.value.server_message == "access_denied: User said no"


def test_oauth_finish_google_without_gmail_scope_refused(http: respx.MockRouter) -> None:
    http.post(GOOGLE_TOKEN_ENDPOINT).respond(
        json={"access_token": "ya29.google-access-token", "expires_in": 3599, "scope": "openid"}
    )
    start = start_authorization(google(), STATE)
    with pytest.raises(OAuthError) as raised:
        finish_authorization(google(), start.flow_state, {"state": STATE, "code": "c"})
    assert raised.value.error == "insufficient_scope"


# -- refreshing -------------------------------------------------------------------------------


def test_token_provider_refreshes_before_expiry_not_after(http: respx.MockRouter) -> None:
    route = http.post(GOOGLE_TOKEN_ENDPOINT).respond(
        json={"access_token": "ya29.renewed", "expires_in": 3599, "token_type": "Bearer"}
    )
    fresh = TokenProvider(google(), google_tokens(expires_in=600))
    assert fresh() == "ya29.google-access-token" and not route.called
    # Four minutes left is inside the five-minute margin: renewed although still valid.
    expiring = TokenProvider(google(), google_tokens(expires_in=240))
    assert expiring() == "ya29.renewed"
    assert form(route.calls.last.request)["refresh_token"] == "1//google-refresh-token"
    assert expiring() == "ya29.renewed" and route.call_count == 1


def test_token_provider_refresh_follows_the_clock(http: respx.MockRouter) -> None:
    route = http.post(GOOGLE_TOKEN_ENDPOINT).respond(
        json={"access_token": "ya29.renewed", "expires_in": 3599}
    )
    now = [datetime.now(UTC)]
    provider = TokenProvider(google(), google_tokens(expires_in=3600), clock=lambda: now[0])
    provider()
    now[0] += timedelta(minutes=56)
    assert provider() == "ya29.renewed" and route.call_count == 1


def test_token_provider_google_keeps_refresh_token_it_was_not_given_a_new_one(
    http: respx.MockRouter,
) -> None:
    http.post(GOOGLE_TOKEN_ENDPOINT).respond(
        json={"access_token": "ya29.renewed", "expires_in": 3599}
    )
    stored: list[OAuthTokens] = []
    TokenProvider(google(), google_tokens(expires_in=0), on_refresh=stored.append)()
    assert [t.refresh_token for t in stored] == ["1//google-refresh-token"]


def test_token_provider_refresh_invalid_grant_raises_with_google_description(
    http: respx.MockRouter,
) -> None:
    http.post(GOOGLE_TOKEN_ENDPOINT).respond(
        400,
        json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )
    provider = TokenProvider(google(), google_tokens(expires_in=0))
    with pytest.raises(SourceAuthError) as raised:
        provider()
    assert raised.value.server_message == "invalid_grant: Token has been expired or revoked."
    assert isinstance(raised.value, OAuthError) and raised.value.error == "invalid_grant"


def test_token_provider_microsoft_invalid_grant_carries_aadsts_words(
    http: respx.MockRouter,
) -> None:
    description = (
        "AADSTS700082: The refresh token has expired due to inactivity. The token was issued "
        "on 2024-01-04T10:11:12Z and was inactive for 90.00:00:00."
    )
    http.post(MS_TOKEN_ENDPOINT).respond(
        400,
        json={
            "error": "invalid_grant",
            "error_description": description,
            "error_codes": [700082],
            "timestamp": "2024-04-03 10:11:12Z",
            "trace_id": "0b5c2f0e-5d4d-4a4b-9b1e-4f0c5c3e1a00",
            "correlation_id": "8d1c6e2a-1f0c-4d2b-8c3a-2e4f5a6b7c8d",
        },
    )
    tokens = OAuthTokens("eyJ0eXAi.ms-access-token", "0.AAAA-ms-refresh-token", datetime.now(UTC))
    with pytest.raises(SourceAuthError) as raised:
        TokenProvider(microsoft(), tokens)()
    assert raised.value.server_message == f"invalid_grant: {description}"


def test_token_provider_passes_rotated_refresh_token_to_on_refresh(
    http: respx.MockRouter,
) -> None:
    route = http.post(MS_TOKEN_ENDPOINT).respond(
        json={
            "token_type": "Bearer",
            "scope": "https://outlook.office.com/IMAP.AccessAsUser.All",
            "expires_in": 3600,
            "access_token": "eyJ0eXAi.ms-access-token-2",
            "refresh_token": "0.BBBB-ms-rotated-refresh-token",
        }
    )
    stored: list[OAuthTokens] = []
    tokens = OAuthTokens("eyJ0eXAi.ms-access-token", "0.AAAA-ms-refresh-token", datetime.now(UTC))
    provider = TokenProvider(microsoft(), tokens, on_refresh=stored.append, source="src-7")
    assert provider() == "eyJ0eXAi.ms-access-token-2"
    sent = form(route.calls.last.request)
    assert (sent["grant_type"], sent["refresh_token"]) == (
        "refresh_token",
        "0.AAAA-ms-refresh-token",
    )
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in sent["scope"].split()
    assert [t.refresh_token for t in stored] == ["0.BBBB-ms-rotated-refresh-token"]


def test_oauth_refresh_unreachable_endpoint_is_a_connection_error(http: respx.MockRouter) -> None:
    http.post(GOOGLE_TOKEN_ENDPOINT).mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(SourceConnectionError):
        refresh(google(), "1//google-refresh-token")


def test_oauth_refresh_server_error_is_a_connection_error_not_an_auth_error(
    http: respx.MockRouter,
) -> None:
    http.post(GOOGLE_TOKEN_ENDPOINT).respond(503, text="<html>unavailable</html>")
    with pytest.raises(SourceConnectionError) as raised:
        refresh(google(), "1//google-refresh-token")
    assert not isinstance(raised.value, SourceAuthError) and "503" in str(raised.value)


# -- application access -----------------------------------------------------------------------


def test_oauth_client_credentials_ask_for_the_resource_default_scope(
    http: respx.MockRouter,
) -> None:
    route = http.post(MS_TOKEN_ENDPOINT).respond(
        json={"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0eXAi.app-token"}
    )
    tokens = client_credentials(microsoft(access="application", protocol="graph"))
    sent = form(route.calls.last.request)
    assert sent["grant_type"] == "client_credentials"
    assert sent["scope"] == "https://graph.microsoft.com/.default"
    assert sent["client_id"] == "6731de76-14a6-49ae-97bc-6eba6914391e"
    assert (tokens.access_token, tokens.refresh_token) == ("eyJ0eXAi.app-token", None)


def test_token_provider_application_access_fetches_its_own_token(http: respx.MockRouter) -> None:
    route = http.post(MS_TOKEN_ENDPOINT).respond(
        json={"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0eXAi.app-token"}
    )
    provider = TokenProvider(microsoft(access="application"))
    assert provider() == "eyJ0eXAi.app-token" == provider()
    assert form(route.calls.last.request)["scope"] == "https://outlook.office365.com/.default"
    assert route.call_count == 1


def test_oauth_client_credentials_bad_secret_carries_aadsts_words(http: respx.MockRouter) -> None:
    http.post(MS_TOKEN_ENDPOINT).respond(
        401,
        json={
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.",
            "error_codes": [7000215],
        },
    )
    with pytest.raises(OAuthError) as raised:
        client_credentials(microsoft(access="application"))
    assert raised.value.error == "invalid_client"
    assert "AADSTS7000215" in raised.value.server_message


def test_oauth_unknown_tenant_is_a_config_error(http: respx.MockRouter) -> None:
    http.get(
        "https://login.microsoftonline.com/nosuch.example/v2.0/.well-known/openid-configuration"
    ).respond(400, json={"error": "invalid_tenant", "error_description": "AADSTS90002"})
    with pytest.raises(SourceConfigError) as raised:
        client_credentials(microsoft(access="application", tenant="nosuch.example"))
    assert raised.value.field == "tenant"


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"provider": "yahoo"}, "provider"),
        ({"client_secret": ""}, "client_secret"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"redirect_uri": "http://connector.example.com/cb"}, "redirect_uri"),
        ({"access": "application", "tenant": "organizations"}, "tenant"),
        ({"tenant": "contoso/../x"}, "tenant"),
        ({"provider": "google", "protocol": "graph"}, "protocol"),
        ({"provider": "google", "access": "application"}, "access"),
    ],
)
def test_oauth_client_config_refuses_what_cannot_work(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(SourceConfigError) as raised:
        microsoft(**settings)
    assert raised.value.field == field


def test_oauth_client_config_accepts_loopback_redirect_for_development() -> None:
    assert microsoft(redirect_uri="http://localhost:8000/cb").redirect_uri is not None


def test_token_provider_plugs_into_source_config_as_access_token() -> None:
    provider = TokenProvider(google(), google_tokens(expires_in=3600))
    config = SourceConfig(
        "imap", "imap.gmail.com", 993, "support@example.com", access_token=provider
    )
    assert config.access_token is not None
    assert config.access_token() == "ya29.google-access-token"


# -- secrecy ----------------------------------------------------------------------------------


def test_oauth_no_token_or_secret_in_repr_str_errors_or_logs(
    http: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http.post(MS_TOKEN_ENDPOINT).mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "access_token": "eyJ0eXAi.ms-access-token",
                    "refresh_token": "0.BBBB-ms-rotated-refresh-token",
                    "expires_in": 3600,
                },
            ),
            httpx.Response(
                400, json={"error": "invalid_grant", "error_description": "AADSTS50173"}
            ),
        ]
    )
    old = OAuthTokens("eyJ0eXAi.old", "0.AAAA-ms-refresh-token", datetime.now(UTC))
    provider = TokenProvider(microsoft(), old, source="src-1", margin=timedelta(hours=2))
    provider()
    with pytest.raises(SourceAuthError) as raised:
        provider()  # still inside the (two-hour) margin: refreshes again, and is refused
    start = start_authorization(google(), STATE)
    seen = [
        repr(old),
        str(old),
        repr(google()),
        repr(microsoft()),
        repr(provider),
        str(provider),
        repr(start),
        str(raised.value),
        repr(raised.value),
        caplog.text,
    ]
    assert "source.token_refreshed" in caplog.text
    assert "source.token_refresh_failed" in caplog.text
    for text in seen:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {text[:80]!r}"
    assert start.flow_state["flow"]["code_verifier"] not in repr(start)


def test_oauth_start_returns_a_frozen_value() -> None:
    start = start_authorization(google(), STATE)
    assert isinstance(start, AuthorizationStart)
    with pytest.raises(AttributeError):
        start.url = "https://elsewhere.example.com"  # type: ignore[misc]
