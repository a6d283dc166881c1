"""Acting as one of the site's users: Connect user impersonation (scope ACT_AS_USER).

A comment the app writes for a Jira user's reply should be that user's comment, not the app's
with a line naming them. Connect lets an app with the ACT_AS_USER scope trade a JWT assertion
for an OAuth 2.0 access token of any user of the site ("User impersonation for Connect apps",
developer.atlassian.com/cloud/jira/platform/user-impersonation-for-connect-apps/; RFC 7523's
JWT bearer grant): the assertion is HS256-signed with the tenant's shared secret, names the
app by the install's `oauthClientId` and the user by account id, and is POSTed to Atlassian's
authorization server, which answers with a bearer token for the site.

This module is the Connect way of getting such a client, as `auth.py` is the Connect way of
reaching the site as the app; the tracker sees only `UserClients`. The assertion goes to the
authorization server, the one place a tenant-signed token leaves for another origin (it is
what the grant is for); the bearer token it yields goes only to the site's own origin
(`BearerTokenAuth`, like every strategy in `auth.py`), and is never logged.

Tokens are cached per tenant and account until shortly before they expire, so a busy thread
costs one token request per user, not one per comment. A refusal (the site has not consented
to ACT_AS_USER, the user is unknown) is remembered briefly for the same reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import jwt as pyjwt

from connector import logs
from connector.jira.auth import BearerTokenAuth, JiraSite
from connector.jira.client import JiraClient
from connector.jira.errors import JiraRateLimited, JiraUnavailable
from connector.jira.limiter import SiteLimiter
from connector.jira.session import parse_retry_after
from connector.tenant import Tenant

log = logging.getLogger(__name__)

DEFAULT_AUTHORIZATION_SERVER_URL = "https://oauth-2-authorization-server.services.atlassian.com"
EXCHANGE_PATH = "/oauth2/token"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# What the token may do: read the issue and write the comment. Scopes are the Connect scope
# names, space separated; the token never gets more than the app's descriptor declares.
SCOPES = ("READ", "WRITE")
CLIENT_ID_PREFIX = "urn:atlassian:connect:clientid:"
ACCOUNT_ID_PREFIX = "urn:atlassian:connect:useraccountid:"
# Atlassian refuses assertions that live long; a minute covers any clock skew we tolerate.
ASSERTION_TTL_SECONDS = 60
# A token this close to its expiry is replaced, so a slow request never carries a dead one.
EXPIRY_MARGIN_SECONDS = 60.0
# Atlassian's tokens live 15 minutes; an answer without `expires_in` is trusted for less.
FALLBACK_TOKEN_SECONDS = 300.0
REFUSAL_TTL_SECONDS = 300.0
TIMEOUT_SECONDS = 15.0
MAX_ENTRIES = 10_000


class ImpersonationRefused(Exception):
    """The app may not act as this user; `reason` says why in words for the email log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UserClients(Protocol):
    """Jira clients acting as the site's users: what the tracker needs, whatever the strategy."""

    def client_for(self, account_id: str) -> JiraClient:
        """A client acting as `account_id`. Raises `ImpersonationRefused` when the site will
        not allow it, or a retryable `JiraError` when asking failed for now."""
        ...

    def discard(self, account_id: str) -> None:
        """Jira refused the account's token (401): forget it so the next call asks again."""
        ...


def assertion_claims(
    *,
    oauth_client_id: str,
    account_id: str,
    site_url: str,
    audience: str,
    now: float,
    ttl_seconds: int = ASSERTION_TTL_SECONDS,
) -> dict[str, Any]:
    """The claims of a user-impersonation assertion: the app (`iss`) asks the authorization
    server (`aud`) for a token of one user (`sub`) of one site (`tnt`, its baseUrl)."""
    if not oauth_client_id or not account_id:
        raise ValueError("an impersonation assertion needs an OAuth client id and an account id")
    issued_at = int(now)
    return {
        "iss": CLIENT_ID_PREFIX + oauth_client_id,
        "sub": ACCOUNT_ID_PREFIX + account_id,
        "tnt": site_url.rstrip("/"),
        "aud": audience.rstrip("/"),
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
    }


def encode_assertion(claims: Mapping[str, Any], shared_secret: str) -> str:
    """HS256 with the tenant's shared secret, as for every token the app signs for a site."""
    return pyjwt.encode(dict(claims), shared_secret, algorithm="HS256")


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    expires_at: float  # on the monotonic clock


@dataclass(frozen=True)
class _Refusal:
    reason: str
    until: float


class UserTokens:
    """Access tokens of the sites' users, shared by every poll of the process.

    Thread-safe: polls run in parallel. Requests for the same tenant and account are made one
    at a time, so two messages from one user never cost two token requests.
    """

    def __init__(
        self,
        authorization_server_url: str = DEFAULT_AUTHORIZATION_SERVER_URL,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        timeout_seconds: float = TIMEOUT_SECONDS,
        limiter: SiteLimiter | None = None,
    ) -> None:
        """`limiter`: Jira's rate limits, shared with the app's own calls to the site."""
        parts = urlsplit(authorization_server_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query:
            raise ValueError(
                "the authorization server URL must be an absolute http(s) URL without a query, "
                f"not {authorization_server_url!r}"
            )
        self.authorization_server_url = authorization_server_url.rstrip("/")
        self._clock = clock
        self._wall_clock = wall_clock
        self._timeout = timeout_seconds
        self.limiter = limiter
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str], _Token | _Refusal] = {}
        self._key_locks: dict[tuple[str, str, str], threading.Lock] = {}

    def clients(self, tenant: Tenant) -> UserClients | None:
        """Clients acting as the tenant's users; None when its install gave no OAuth client id
        (a site that installed before we asked for it, until its next install callback) or no
        Connect shared secret to sign the assertion with (installed only through Forge)."""
        if not tenant.oauth_client_id or tenant.shared_secret is None:
            return None
        return _TenantUserClients(self, tenant)

    def token(self, tenant: Tenant, account_id: str) -> str:
        """A live access token for `account_id` on the tenant's site."""
        key = _key(tenant, account_id)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                known = self._tokens.get(key)
            now = self._clock()
            if isinstance(known, _Token) and known.expires_at - EXPIRY_MARGIN_SECONDS > now:
                return known.value
            if isinstance(known, _Refusal) and known.until > now:
                raise ImpersonationRefused(known.reason)
            try:
                fresh: _Token | _Refusal = self._request(tenant, account_id)
            except ImpersonationRefused as exc:
                fresh = _Refusal(exc.reason, self._clock() + REFUSAL_TTL_SECONDS)
            self._remember(key, fresh)
            if isinstance(fresh, _Refusal):
                raise ImpersonationRefused(fresh.reason)
            return fresh.value

    def discard(self, tenant: Tenant, account_id: str) -> None:
        with self._lock:
            self._tokens.pop(_key(tenant, account_id), None)

    def _remember(self, key: tuple[str, str, str], entry: _Token | _Refusal) -> None:
        with self._lock:
            if len(self._tokens) >= MAX_ENTRIES:
                self._tokens.clear()
                self._key_locks = {k: v for k, v in self._key_locks.items() if v.locked()}
            self._tokens[key] = entry

    def _request(self, tenant: Tenant, account_id: str) -> _Token:
        if tenant.shared_secret is None:
            raise ImpersonationRefused("the site has no Connect shared secret to sign with")
        claims = assertion_claims(
            oauth_client_id=tenant.oauth_client_id or "",
            account_id=account_id,
            site_url=tenant.base_url,
            audience=self.authorization_server_url,
            now=self._wall_clock(),
        )
        form = {
            "grant_type": GRANT_TYPE,
            "assertion": encode_assertion(claims, tenant.shared_secret),
            "scope": " ".join(SCOPES),
        }
        url = self.authorization_server_url + EXCHANGE_PATH
        try:
            # No redirects: the assertion is for this server and no other.
            response = httpx.post(
                url,
                data=form,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.TransportError as exc:
            raise JiraUnavailable(
                None, [f"the authorization server could not be reached: {type(exc).__name__}"]
            ) from exc
        status = response.status_code
        logs.event(log, "jira.user_token", tenant_id=tenant.id, status=status)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise JiraRateLimited(
                None, ["the authorization server answered 429"], retry_after=retry_after
            )
        if status >= 500:
            # Status None: the message names the server, so the log does not blame Jira.
            raise JiraUnavailable(None, [f"the authorization server answered {status}"])
        if status != 200:
            raise ImpersonationRefused(
                f"the site does not let the app act as this user "
                f"(authorization server answered {status}{_oauth_error(response)})"
            )
        return self._token_from(response)

    def _token_from(self, response: httpx.Response) -> _Token:
        try:
            body = response.json()
        except ValueError:
            body = None
        value = body.get("access_token") if isinstance(body, dict) else None
        token_type = str(body.get("token_type") or "Bearer") if isinstance(body, dict) else ""
        if not isinstance(value, str) or not value or token_type.lower() != "bearer":
            raise ImpersonationRefused("the authorization server's answer holds no bearer token")
        lifetime = body.get("expires_in") if isinstance(body, dict) else None
        seconds = (
            float(lifetime)
            if isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
            else FALLBACK_TOKEN_SECONDS
        )
        return _Token(value, self._clock() + max(0.0, seconds))


class _TenantUserClients:
    """One tenant's user clients, for one poll: a client is kept per token, so a user's
    comments in the poll share one connection pool."""

    def __init__(self, tokens: UserTokens, tenant: Tenant) -> None:
        self._tokens = tokens
        self._tenant = tenant
        self._clients: dict[str, JiraClient] = {}
        self._lock = threading.Lock()

    def client_for(self, account_id: str) -> JiraClient:
        token = self._tokens.token(self._tenant, account_id)
        with self._lock:
            client = self._clients.get(token)
            if client is None:
                base_url = self._tenant.base_url
                site = JiraSite(base_url, BearerTokenAuth(base_url, token=token))
                client = JiraClient(site, limiter=self._tokens.limiter)
                self._clients[token] = client
            return client

    def discard(self, account_id: str) -> None:
        self._tokens.discard(self._tenant, account_id)


def _key(tenant: Tenant, account_id: str) -> tuple[str, str, str]:
    # The client id is part of the key: a re-install with a new one must not reuse old tokens.
    return tenant.client_key, tenant.oauth_client_id or "", account_id


def _oauth_error(response: httpx.Response) -> str:
    """The OAuth error code (RFC 6749 5.2), short and free of anything secret."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, str) or not error:
        return ""
    return ": " + "".join(ch for ch in error[:80] if ch.isprintable())
