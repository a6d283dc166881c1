"""Signing a source in with OAuth through the admin API, and polling it over XOAUTH2.

Google's and Microsoft's endpoints are respx mocks (the app runs in this process, so its httpx
calls reach them); the app itself, the fake Jira and Dovecot are real and answer on loopback.
The access tokens Google "grants" are ones the test Dovecot accepts over XOAUTH2.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from sqlalchemy import text

from connector.sources.oauth import GOOGLE_TOKEN_ENDPOINT
from tests.integration.admin_support import AdminApi, dovecot_body
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.messages import build_message

CLIENT_ID = "1234-abc.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-tenant-own-client-secret"
REFRESH_TOKEN = "1//google-refresh-token-first"
ROTATED_REFRESH = "1//google-refresh-token-rotated"
TENANT = "contoso.onmicrosoft.com"
TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
MS_SECRET = "ms~tenant~client~secret"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url



@dataclass
class TokenEndpoint:
    """Google's token endpoint: answers set by the test, requests kept."""

    code: Callable[[], httpx.Response]
    refresh: Callable[[], httpx.Response]
    requests: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.requests.append(body)
        return self.code() if body["grant_type"] == "authorization_code" else self.refresh()


def granted(access_token: str, refresh_token: str | None = REFRESH_TOKEN) -> httpx.Response:
    payload: dict[str, Any] = {
        "access_token": access_token,
        "expires_in": 3599,
        "scope": "https://mail.google.com/ openid email",
        "token_type": "Bearer",
    }
    if refresh_token:
        payload["refresh_token"] = refresh_token
    return httpx.Response(200, json=payload)


def refused() -> httpx.Response:
    return httpx.Response(
        400,
        json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        mock.route(host="localhost").pass_through()
        yield mock


@pytest.fixture
def google(router: respx.MockRouter, dovecot: Dovecot, mail_user: MailUser) -> TokenEndpoint:
    endpoint = TokenEndpoint(code=lambda: granted(dovecot.issue_token(mail_user)), refresh=refused)
    router.post(GOOGLE_TOKEN_ENDPOINT).mock(side_effect=endpoint)
    return endpoint


@pytest.fixture
def source(api: AdminApi, dovecot: Dovecot, mail_user: MailUser) -> dict[str, Any]:
    response = api.call("POST", "/mail-sources", json=dovecot_body(dovecot, mail_user))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def start(api: AdminApi, source_id: int, **overrides: Any) -> httpx.Response:
    body = {"provider": "google", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return api.call("POST", f"/mail-sources/{source_id}/oauth/start", json=body | overrides)


def url_query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def callback(api: AdminApi, **params: str) -> httpx.Response:
    return httpx.get(f"{api.app.base_url}/oauth/callback", params=params, timeout=30)


def sign_in(api: AdminApi, source_id: int) -> httpx.Response:
    response = start(api, source_id)
    assert response.status_code == 200, response.text
    state = url_query(response.json()["authorization_url"])["state"]
    return callback(api, code="4/0Adeu5B-code", state=state, scope="https://mail.google.com/")


def raw_row(api: AdminApi, source_id: int) -> dict[str, Any]:
    with api.app.runtime.engine.connect() as connection:
        row = connection.execute(
            text("SELECT * FROM mail_sources WHERE id = :id"), {"id": source_id}
        ).mappings()
        return dict(next(iter(row)))


def stored(api: AdminApi, source_id: int) -> dict[str, Any]:
    state = api.app.runtime.sources.oauth(source_id)
    assert state is not None
    return state


def change_stored(api: AdminApi, source_id: int, change: Callable[[Any], Any]) -> None:
    assert api.app.runtime.sources.change_oauth(source_id, change)


def expire_tokens(api: AdminApi, source_id: int) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    change_stored(
        api, source_id, lambda cur: {**cur, "tokens": {**cur["tokens"], "expires_at": past}}
    )


# -- starting ---------------------------------------------------------------------------------


def test_oauth_start_google_answers_url_with_client_redirect_state_and_pkce(
    api: AdminApi, source: dict[str, Any]
) -> None:
    response = start(api, source["id"])
    assert response.status_code == 200, response.text
    params = url_query(response.json()["authorization_url"])
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == f"{api.app.base_url}/oauth/callback"
    assert params["state"].startswith(f"{source['id']}.") and len(params["state"]) > 40
    assert params["code_challenge_method"] == "S256"
    verifier = stored(api, source["id"])["pending"]["flow_state"]["flow"]["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert params["code_challenge"] == challenge.rstrip(b"=").decode()
    assert CLIENT_SECRET not in response.text and verifier not in response.text
    # Started is not connected: the password still works until the sign-in is finished.
    answer = api.call("GET", f"/mail-sources/{source['id']}").json()
    assert (answer["uses_oauth"], answer["has_password"]) == (False, True)


def test_oauth_start_refuses_bad_body_and_other_tenants_source(
    api: AdminApi, source: dict[str, Any]
) -> None:
    assert start(api, source["id"], provider="yahoo").json()["field"] == "provider"
    assert start(api, source["id"], client_secret="").json()["field"] == "client_secret"
    assert start(api, source["id"], extra="x").json()["field"] == "extra"
    assert start(api, source["id"], access="application").json()["field"] == "access"
    assert start(api, 999_999).status_code == 404
    assert api.app.runtime.sources.oauth(source["id"]) is None


# -- the callback -----------------------------------------------------------------------------


def test_oauth_callback_wrong_or_malformed_state_refused_and_stores_nothing(
    api: AdminApi, source: dict[str, Any], google: TokenEndpoint
) -> None:
    response = start(api, source["id"])
    state = url_query(response.json()["authorization_url"])["state"]
    before = stored(api, source["id"])
    for bad in (f"{source['id']}.not-the-state", "no-source-id", "", state + "x"):
        answer = callback(api, code="4/0code", state=bad)
        assert answer.status_code == 400
        assert "start again" in answer.text
    assert google.requests == []
    assert stored(api, source["id"]) == before
    assert api.call("GET", f"/mail-sources/{source['id']}").json()["uses_oauth"] is False


def test_oauth_callback_expired_state_refused(
    api: AdminApi, source: dict[str, Any], google: TokenEndpoint
) -> None:
    response = start(api, source["id"])
    state = url_query(response.json()["authorization_url"])["state"]
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    change_stored(
        api, source["id"], lambda cur: {**cur, "pending": {**cur["pending"], "expires_at": past}}
    )
    assert callback(api, code="4/0code", state=state).status_code == 400
    assert google.requests == []
    assert "tokens" not in stored(api, source["id"])


def test_oauth_callback_good_stores_tokens_encrypted_and_state_is_single_use(
    api: AdminApi, source: dict[str, Any], google: TokenEndpoint
) -> None:
    response = start(api, source["id"])
    state = url_query(response.json()["authorization_url"])["state"]
    done = callback(api, code="4/0Adeu5B-code", state=state)
    assert done.status_code == 200, done.text
    assert "Connected: you can close this window" in done.text
    assert done.headers["content-type"].startswith("text/html")
    assert [r["grant_type"] for r in google.requests] == ["authorization_code"]
    assert google.requests[0]["code_verifier"] and google.requests[0]["code"] == "4/0Adeu5B-code"

    again = callback(api, code="4/0Adeu5B-code", state=state)
    assert again.status_code == 400
    assert len(google.requests) == 1

    row = raw_row(api, source["id"])
    assert row["password_encrypted"] is None and row["oauth_encrypted"]
    access_token = stored(api, source["id"])["tokens"]["access_token"]
    for secret in (access_token, REFRESH_TOKEN, CLIENT_SECRET):
        assert secret not in json.dumps(row, default=str)
    answer = api.call("GET", f"/mail-sources/{source['id']}")
    assert (answer.json()["uses_oauth"], answer.json()["has_password"]) == (True, False)
    listed = api.call("GET", "/mail-sources")
    for text_ in (answer.text, listed.text, done.text):
        for secret in (access_token, REFRESH_TOKEN, CLIENT_SECRET):
            assert secret not in text_


def test_oauth_callback_provider_error_shown_escaped_with_400(
    api: AdminApi, source: dict[str, Any], google: TokenEndpoint
) -> None:
    response = start(api, source["id"])
    state = url_query(response.json()["authorization_url"])["state"]
    answer = callback(
        api, state=state, error="access_denied", error_description="<script>alert(1)</script>"
    )
    assert answer.status_code == 400
    assert "access_denied" in answer.text
    assert "<script>" not in answer.text and "&lt;script&gt;" in answer.text
    assert google.requests == []


def test_oauth_callback_code_refused_by_google_shows_its_words(
    api: AdminApi, source: dict[str, Any], google: TokenEndpoint
) -> None:
    google.code = refused
    answer = sign_in(api, source["id"])
    assert answer.status_code == 400
    assert "invalid_grant: Token has been expired or revoked." in answer.text
    assert api.call("GET", f"/mail-sources/{source['id']}").json()["uses_oauth"] is False


# -- polling over XOAUTH2 ---------------------------------------------------------------------


def test_oauth_source_enables_and_polls_dovecot_over_xoauth2(
    api: AdminApi,
    source: dict[str, Any],
    google: TokenEndpoint,
    dovecot: Dovecot,
    mail_user: MailUser,
) -> None:
    path = f"/mail-sources/{source['id']}"
    assert sign_in(api, source["id"]).status_code == 200
    diagnosis = api.call("POST", path + "/test")
    assert diagnosis.status_code == 200 and diagnosis.json()["ok"] is True, diagnosis.text
    assert api.call("POST", path + "/enable").status_code == 200
    dovecot.deliver(mail_user, build_message("Printer on fire", sender="ann@example.com"))
    assert api.poll(source["id"])["counts"] == {"created": 1}
    assert [r["grant_type"] for r in google.requests] == ["authorization_code"]


def test_oauth_expired_token_refreshed_and_rotated_token_stored(
    api: AdminApi,
    source: dict[str, Any],
    google: TokenEndpoint,
    dovecot: Dovecot,
    mail_user: MailUser,
) -> None:
    path = f"/mail-sources/{source['id']}"
    assert sign_in(api, source["id"]).status_code == 200
    assert api.call("POST", path + "/enable").status_code == 200
    expire_tokens(api, source["id"])
    google.refresh = lambda: granted(dovecot.issue_token(mail_user), ROTATED_REFRESH)
    dovecot.deliver(mail_user, build_message("Refreshed", sender="bob@example.com"))
    assert api.poll(source["id"])["counts"] == {"created": 1}
    assert google.requests[-1] == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
    }
    tokens = stored(api, source["id"])["tokens"]
    assert tokens["refresh_token"] == ROTATED_REFRESH
    assert datetime.fromisoformat(tokens["expires_at"]) > datetime.now(UTC)
    assert ROTATED_REFRESH not in str(raw_row(api, source["id"])["oauth_encrypted"])


def test_oauth_refresh_invalid_grant_sets_error_status_backs_off_and_keeps_cursor(
    api: AdminApi,
    source: dict[str, Any],
    google: TokenEndpoint,
    dovecot: Dovecot,
    mail_user: MailUser,
) -> None:
    path = f"/mail-sources/{source['id']}"
    assert sign_in(api, source["id"]).status_code == 200
    assert api.call("POST", path + "/enable").status_code == 200
    cursor = raw_row(api, source["id"])["cursor"]
    expire_tokens(api, source["id"])
    dovecot.deliver(mail_user, build_message("Waits for a sign-in", sender="cy@example.com"))
    poll = api.poll(source["id"])
    assert poll["ok"] is False
    assert "invalid_grant: Token has been expired or revoked." in poll["message"]
    answer = api.call("GET", path).json()
    assert answer["status"] == "error"
    assert "invalid_grant: Token has been expired or revoked." in answer["status_message"]
    assert datetime.fromisoformat(answer["next_poll_at"]) > datetime.now(UTC) + timedelta(minutes=1)
    assert raw_row(api, source["id"])["cursor"] == cursor
    assert api.call("GET", f"/email-log?source_id={source['id']}").json()["entries"] == []
    # The tokens are kept: signing in again (or a provider that recovers) continues from here.
    assert stored(api, source["id"])["tokens"]["refresh_token"] == REFRESH_TOKEN


# -- Microsoft application access -------------------------------------------------------------


def test_oauth_start_microsoft_application_access_connects_at_once(
    api: AdminApi, source: dict[str, Any], router: respx.MockRouter
) -> None:
    base = f"https://login.microsoftonline.com/{TENANT_ID}"
    router.get(
        f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration"
    ).respond(
        json={
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "issuer": f"{base}/v2.0",
        }
    )
    token = router.post(f"{base}/oauth2/v2.0/token").respond(
        json={"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0.app-only-token"}
    )
    response = start(
        api,
        source["id"],
        provider="microsoft",
        client_id="6731de76-14a6-49ae-97bc-6eba6914391e",
        client_secret=MS_SECRET,
        tenant=TENANT,
        access="application",
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"connected": True}
    assert token.called
    form = parse_qs(token.calls.last.request.content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == ["https://outlook.office365.com/.default"]
    answer = api.call("GET", f"/mail-sources/{source['id']}").json()
    assert (answer["uses_oauth"], answer["has_password"]) == (True, False)
    assert stored(api, source["id"])["app"]["access"] == "application"
    assert "eyJ0.app-only-token" not in json.dumps(raw_row(api, source["id"]), default=str)
