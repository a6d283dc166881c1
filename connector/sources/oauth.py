"""OAuth2 for mailboxes: sign in with Google or Microsoft, or Microsoft application access.

Pure protocol logic plus the HTTP it needs; nothing here touches storage. The admin API calls
`start_authorization`, keeps the returned `flow_state` server-side (it holds the PKCE verifier)
until the provider redirects back, then calls `finish_authorization` and stores the refresh
token encrypted. `refresh` and `client_credentials` renew tokens; `TokenProvider`
(`connector.sources.token_provider`) calls them for a source. The app registration and the
tokens are `OAuthClientConfig` and `OAuthTokens` (`connector.sources.oauth_config`).

Google is a plain authorisation-code grant with PKCE over httpx (Google's "Using OAuth 2.0 for
Web Server Applications"). Microsoft goes through msal's `ConfidentialClientApplication`, which
does its own PKCE, nonce and authority discovery ("Microsoft identity platform and OAuth 2.0
authorization code flow"). Token values never appear in logs, reprs or exception messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import msal  # type: ignore[import-untyped]

from connector.sources.errors import SourceAuthError, SourceConfigError, SourceConnectionError
from connector.sources.oauth_config import GOOGLE_MAIL_SCOPE, OAuthClientConfig, OAuthTokens

GOOGLE_AUTHORIZATION_ENDPOINT = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL


class OAuthError(SourceAuthError):
    """The provider refused; `error` and `error_description` are its words (RFC 6749 §5.2)."""

    def __init__(self, message: str, error: str, error_description: str = "") -> None:
        super().__init__(message, f"{error}: {error_description}" if error_description else error)
        self.error = error
        self.error_description = error_description


class OAuthStateMismatch(OAuthError):
    """The redirect does not answer the sign-in we started: possible CSRF (RFC 6749 §10.12)."""


@dataclass(frozen=True)
class AuthorizationStart:
    """Send the admin's browser to `url`; keep `flow_state` server-side, keyed by the state.

    `flow_state` is JSON-serialisable and holds the PKCE verifier (RFC 7636 §4.1): it must not
    go to the browser, or PKCE protects nothing.
    """

    url: str
    flow_state: dict[str, Any] = field(repr=False)


def start_authorization(
    config: OAuthClientConfig,
    state: str,
    *,
    login_hint: str | None = None,
    http_client: httpx.Client | None = None,
) -> AuthorizationStart:
    """Where to send the admin to sign in; `state` is the caller's unguessable request id."""
    redirect_uri = _delegated(config)
    if not state or len(state) < 16:
        raise ValueError("state must be an unguessable value of at least 16 characters")
    if config.provider == "google":
        verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636 §4.1's 43-128
        params = {
            "client_id": config.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(config.scopes),
            "state": state,
            "code_challenge": _s256(verifier),
            "code_challenge_method": "S256",
            # A refresh token comes only with offline access, and only on the first consent
            # unless consent is asked again (Google, "Refreshing an access token (offline)").
            "access_type": "offline",
            "prompt": "consent",
        }
        if login_hint:
            params["login_hint"] = login_hint
        url = f"{GOOGLE_AUTHORIZATION_ENDPOINT}?{urlencode(params)}"
        flow = {"redirect_uri": redirect_uri, "code_verifier": verifier}
        return AuthorizationStart(url, {"provider": "google", "state": state, "flow": flow})
    with _http(config, http_client) as client, _msal_errors("start the Microsoft sign-in"):
        app = _msal_app(config, client)
        with warnings.catch_warnings():
            # msal suggests response_mode=form_post (RFC 9700 §4.3.1). The code comes back in
            # the query instead (RFC 6749 §4.1.2) so any callback route can take it; it is
            # useless without the PKCE verifier and the client secret, which never leave us.
            warnings.filterwarnings("ignore", message="response_mode='form_post'")
            flow = app.initiate_auth_code_flow(
                list(config.scopes), redirect_uri=redirect_uri, state=state, login_hint=login_hint
            )
    return AuthorizationStart(
        flow["auth_uri"], {"provider": "microsoft", "state": state, "flow": flow}
    )


def finish_authorization(
    config: OAuthClientConfig,
    flow_state: Mapping[str, Any],
    callback_query: Mapping[str, str],
    *,
    http_client: httpx.Client | None = None,
) -> OAuthTokens:
    """Redeem the code the provider sent back to the redirect URI for tokens."""
    redirect_uri = _delegated(config)
    flow = flow_state.get("flow")
    if flow_state.get("provider") != config.provider or not isinstance(flow, dict):
        raise OAuthError("this sign-in was started for another provider", "invalid_request")
    expected, received = str(flow_state.get("state") or ""), callback_query.get("state") or ""
    if not expected or not hmac.compare_digest(expected.encode(), received.encode()):
        raise OAuthStateMismatch(
            "the sign-in answer does not belong to this sign-in; start the sign-in again",
            "state_mismatch",
        )
    name = _NAMES[config.provider]
    if "error" in callback_query:
        raise OAuthError(
            f"{name} did not grant access",
            callback_query["error"],
            callback_query.get("error_description", ""),
        )
    if config.provider == "microsoft":
        with _http(config, http_client) as client, _msal_errors("finish the Microsoft sign-in"):
            result = _msal_app(config, client).acquire_token_by_auth_code_flow(
                flow, dict(callback_query), scopes=list(config.scopes)
            )
        return _from_msal(result, "Microsoft refused the sign-in code")
    code = callback_query.get("code")
    if not code:
        raise OAuthError("Google sent no authorisation code", "invalid_request")
    payload = _google_token(
        config,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flow.get("redirect_uri", redirect_uri),
            "code_verifier": flow.get("code_verifier", ""),
        },
        http_client,
        "Google refused the sign-in code",
    )
    tokens = _from_payload(payload, None)
    if tokens.scopes and GOOGLE_MAIL_SCOPE not in tokens.scopes:
        # Google lets people untick a requested scope on the consent screen.
        raise OAuthError(
            "Google granted no mailbox access", "insufficient_scope", "tick the Gmail permission"
        )
    return tokens


def refresh(
    config: OAuthClientConfig, refresh_token: str, *, http_client: httpx.Client | None = None
) -> OAuthTokens:
    """New tokens from a refresh token (RFC 6749 §6). The result carries the refresh token to
    keep: a new one when the provider rotated it (Microsoft does), else the one given."""
    if not refresh_token:
        raise OAuthError("there is no refresh token; sign in again", "invalid_grant")
    if config.provider == "microsoft":
        with _http(config, http_client) as client, _msal_errors("refresh the Microsoft token"):
            result = _msal_app(config, client).acquire_token_by_refresh_token(
                refresh_token, list(config.scopes)
            )
        return _from_msal(result, "Microsoft refused to refresh the access token", refresh_token)
    payload = _google_token(
        config,
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
        http_client,
        "Google refused to refresh the access token",
    )
    return _from_payload(payload, refresh_token)


def client_credentials(
    config: OAuthClientConfig, *, http_client: httpx.Client | None = None
) -> OAuthTokens:
    """An app-only token (RFC 6749 §4.4), for mailboxes an Exchange admin granted the app."""
    if config.provider != "microsoft" or config.access != "application":
        raise SourceConfigError("access", "client credentials are for Microsoft application access")
    with _http(config, http_client) as client, _msal_errors("get a Microsoft app token"):
        result = _msal_app(config, client).acquire_token_for_client(list(config.scopes))
    return _from_msal(result, "Microsoft refused the application credentials")


_NAMES: Mapping[str, str] = {"google": "Google", "microsoft": "Microsoft"}


def _delegated(config: OAuthClientConfig) -> str:
    if config.access != "delegated":
        raise SourceConfigError("access", "application access has no sign-in; use its token")
    if not config.redirect_uri:
        raise SourceConfigError("redirect_uri", "is required to sign in")
    return config.redirect_uri


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")  # RFC 7636 §4.2


@contextmanager
def _http(config: OAuthClientConfig, given: httpx.Client | None) -> Iterator[httpx.Client]:
    if given is not None:
        yield given
        return
    with httpx.Client(timeout=float(config.timeout_seconds)) as client:
        yield client


def _msal_app(config: OAuthClientConfig, client: httpx.Client) -> Any:
    # msal takes any requests-like client; httpx fits, so timeouts and tests are ours. The
    # authority is our constant login.microsoftonline.com, which msal trusts without instance
    # discovery anyway; turning that off only stops msal looking up aliases of that host after
    # a refused request. The tenant is still checked: its OpenID configuration must exist.
    try:
        return msal.ConfidentialClientApplication(
            config.client_id,
            client_credential=config.client_secret,
            authority=config.authority,
            http_client=client,
            instance_discovery=False,
        )
    except ValueError as exc:  # the tenant's OpenID configuration was not found
        raise SourceConfigError("tenant", str(exc)) from exc


@contextmanager
def _msal_errors(action: str) -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as exc:
        raise SourceConnectionError(f"{action}: cannot reach Microsoft: {exc}") from exc
    except msal.exceptions.MsalServiceError as exc:  # msal's word for a 5xx answer
        raise SourceConnectionError(f"{action}: Microsoft's sign-in service failed") from exc
    except RuntimeError as exc:  # e.g. the ID token's nonce is not ours (a replayed answer)
        raise OAuthError(
            f"{action}: the answer failed msal's checks", "invalid_response", str(exc)
        ) from exc


def _from_msal(
    result: dict[str, Any] | None, message: str, previous_refresh: str | None = None
) -> OAuthTokens:
    if not result:
        raise OAuthError(message, "no_response")
    if "error" in result:
        raise OAuthError(message, str(result["error"]), str(result.get("error_description", "")))
    tokens = _from_payload(result, previous_refresh)
    claims = result.get("id_token_claims") or {}
    account = claims.get("preferred_username") or claims.get("email")
    return replace(tokens, account=str(account)) if account else tokens


def _google_token(
    config: OAuthClientConfig, data: dict[str, str], given: httpx.Client | None, message: str
) -> dict[str, Any]:
    # Client id and secret in the body, as Google documents (RFC 6749 §2.3.1 allows both).
    body = {"client_id": config.client_id, "client_secret": config.client_secret, **data}
    with _http(config, given) as client:
        try:
            response = client.post(
                GOOGLE_TOKEN_ENDPOINT, data=body, headers={"Accept": "application/json"}
            )
        except httpx.TransportError as exc:
            raise SourceConnectionError(f"{message}: cannot reach Google: {exc}") from exc
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code >= 500 or not isinstance(payload, dict):
        raise SourceConnectionError(f"{message}: Google answered HTTP {response.status_code}")
    if response.status_code != 200 or "error" in payload:
        error = str(payload.get("error") or f"http_{response.status_code}")
        raise OAuthError(message, error, str(payload.get("error_description", "")))
    return payload


def _from_payload(payload: Mapping[str, Any], previous_refresh: str | None) -> OAuthTokens:
    access_token = payload.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise OAuthError("the token endpoint answered without a token", "invalid_response")
    try:
        lifetime = int(payload.get("expires_in", 3600))  # Microsoft v1 sent it as a string
    except (TypeError, ValueError):
        lifetime = 3600
    scope = payload.get("scope") or ()
    scopes = tuple(scope.split() if isinstance(scope, str) else (str(s) for s in scope))
    # RFC 6749 §6: a new refresh token replaces the old one; without one the old stays valid.
    refresh_token = payload.get("refresh_token") or previous_refresh
    return OAuthTokens(
        access_token=access_token,
        refresh_token=str(refresh_token) if refresh_token else None,
        expires_at=datetime.now(UTC) + timedelta(seconds=max(lifetime, 0)),
        scopes=scopes,
        account=_id_token_email(payload.get("id_token")),
    )


def _id_token_email(id_token: object) -> str | None:
    """The account from an ID token that came straight from the token endpoint over TLS,
    which OpenID Connect Core §3.1.3.7 accepts in place of checking its signature."""
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return None
    part = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except ValueError:
        return None
    email = claims.get("email") if isinstance(claims, dict) else None
    return email if isinstance(email, str) else None
