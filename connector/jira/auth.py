"""How we reach a Jira site: an `httpx` auth per strategy.

- Connect tenant: an HS256 JWT per request shape (iss = app key, qsh of the final method and
  URL), reused for a minute of its 3 (`ConnectJwtAuth`),
  developer.atlassian.com/cloud/jira/platform/understanding-jwt-for-connect-apps/.
- API token (self-hosted use, and the "workaround user"): account email + API token, basic auth.
- Bearer token (Jira Data Center personal access tokens, OAuth 2.0 (3LO) later).
- A site connected without an install (`connector site add`, connector.sites): Jira Cloud
  with an account's API token, or Jira Data Center with a personal access token.
- Forge app system token: a tenant installed through Forge without a Connect shared secret
  reaches Jira through Atlassian's gateway, `{app.apiBaseUrl}/rest/api/3/...`, with the token
  Forge last handed over as `Authorization: Bearer` (developer.atlassian.com/platform/forge/
  remote/calling-product-apis/). Once it has expired and no trigger brought a new one, every
  call raises `CredentialsPending` before anything is sent: Jira is not reachable for now.

Every strategy attaches credentials only to requests for the site's own origin (scheme, host
and port of its baseUrl): a URL from a response (a `self` link, a redirect, an attachment
location) that points elsewhere never receives them.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx

from connector import logs
from connector.connect.jwt import canonical_request, encode_token, request_target
from connector.jira.dialect import CLOUD, JiraDialect
from connector.tenant import CLOUD_SITE, SiteAccess, Tenant

log = logging.getLogger(__name__)

PENDING_MESSAGE = "waiting for Jira to hand over a fresh token"
# A token this close to its expiry is not used: a call may take a while to reach Jira.
TOKEN_EXPIRY_MARGIN = timedelta(seconds=60)


class CredentialsPending(Exception):
    """The strategy has nothing Jira would accept right now; a later call may (the client
    turns this into a retryable `JiraUnavailable`)."""


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    default_port = 443 if scheme == "https" else 80
    return scheme, (parts.hostname or "").lower(), parts.port or default_port


class _SiteAuth(httpx.Auth):
    """Attach credentials only when the request goes to the site's own origin."""

    def __init__(self, site_url: str) -> None:
        self.site_url = site_url.rstrip("/")
        self._origin = origin_of(self.site_url)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        yield self.sign(request)

    def sign(self, request: httpx.Request) -> httpx.Request:
        """The request with this site's credentials, or with none if it leaves the site."""
        url = str(request.url)
        if origin_of(url) != self._origin:
            request.headers.pop("Authorization", None)
            logs.event(
                log,
                "jira.auth_withheld",
                logging.WARNING,
                site=self.site_url,
                target_host=urlsplit(url).hostname,
            )
            return request
        request.headers["Authorization"] = self.authorization(request)
        return request

    def authorization(self, request: httpx.Request) -> str:
        raise NotImplementedError

    def pending_reason(self) -> str | None:
        """Why no call can be made now, or None (only a strategy with expiring credentials
        handed over by someone else can have one)."""
        return None


class ConnectJwtAuth(_SiteAuth):
    """A Connect JWT per request shape. A token's `qsh` binds it to one method, path and query,
    so a token is reused only for a request of exactly that shape (a new issue is always
    `POST /rest/api/3/issue`), and only while young: it lives `ttl_seconds` (3 minutes, as
    Atlassian's own), and is reused for its first `REUSE_SECONDS`, so every request still
    carries a token with minutes to run. The cache is bounded and shared by the threads that
    share the client."""

    REUSE_SECONDS = 60
    CACHE_SIZE = 256

    def __init__(
        self,
        site_url: str,
        *,
        app_key: str,
        shared_secret: str,
        ttl_seconds: int = 180,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(site_url)
        self.app_key = app_key
        self._shared_secret = shared_secret
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        # qsh paths are relative to the product's baseUrl (a site may live under a path).
        self._base_path = urlsplit(self.site_url).path
        self._tokens: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def authorization(self, request: httpx.Request) -> str:
        target = request_target(request.method, str(request.url), self._base_path)
        shape = canonical_request(target)
        now = self._clock()
        reuse = min(self.REUSE_SECONDS, self._ttl_seconds // 3)
        with self._lock:
            found = self._tokens.get(shape)
            if found is not None and 0 <= now - found[0] < reuse:
                return f"JWT {found[1]}"
        token = encode_token(
            issuer=self.app_key,
            shared_secret=self._shared_secret,
            target=target,
            now=now,
            ttl_seconds=self._ttl_seconds,
        )
        with self._lock:
            self._tokens[shape] = (now, token)
            self._tokens.move_to_end(shape)
            while len(self._tokens) > self.CACHE_SIZE:
                self._tokens.popitem(last=False)
        return f"JWT {token}"


class ApiTokenAuth(_SiteAuth):
    def __init__(self, site_url: str, *, email: str, api_token: str) -> None:
        super().__init__(site_url)
        self.email = email
        self._api_token = api_token

    def authorization(self, request: httpx.Request) -> str:
        raw = f"{self.email}:{self._api_token}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


class BearerTokenAuth(_SiteAuth):
    def __init__(self, site_url: str, *, token: str) -> None:
        super().__init__(site_url)
        self._token = token

    def authorization(self, request: httpx.Request) -> str:
        return f"Bearer {self._token}"


class SystemTokenAuth(_SiteAuth):
    """A Forge installation's app system token, while it is valid."""

    def __init__(
        self,
        site_url: str,
        *,
        token: str | None,
        expires_at: datetime | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(site_url)
        self._token = token
        self._expires_at = expires_at
        self._clock = clock

    def pending_reason(self) -> str | None:
        if self._token is None or self._expires_at is None:
            return PENDING_MESSAGE
        if self._expires_at - TOKEN_EXPIRY_MARGIN <= self._clock():
            return PENDING_MESSAGE
        return None

    def authorization(self, request: httpx.Request) -> str:
        reason = self.pending_reason()
        if reason is not None or self._token is None:
            raise CredentialsPending(reason or PENDING_MESSAGE)
        return f"Bearer {self._token}"


@dataclass(frozen=True)
class JiraSite:
    """A Jira site and the auth to reach it: what the client needs, whatever the strategy.
    `dialect`: how the site speaks (`connector.jira.dialect`), Jira Cloud unless said."""

    base_url: str
    auth: httpx.Auth = field(repr=False)
    dialect: JiraDialect = CLOUD

    def pending_reason(self) -> str | None:
        """Why Jira cannot be called now whatever the request (say, a token that expired and
        was not replaced yet), or None."""
        return self.auth.pending_reason() if isinstance(self.auth, _SiteAuth) else None


def connect_site(base_url: str, *, app_key: str, shared_secret: str) -> JiraSite:
    """A Connect tenant's site: calls signed with the tenant's shared secret."""
    return JiraSite(
        base_url=base_url,
        auth=ConnectJwtAuth(base_url, app_key=app_key, shared_secret=shared_secret),
    )


def api_token_site(base_url: str, *, email: str, api_token: str) -> JiraSite:
    return JiraSite(
        base_url=base_url, auth=ApiTokenAuth(base_url, email=email, api_token=api_token)
    )


def site_access_site(base_url: str, access: SiteAccess) -> JiraSite:
    """A site connected without an install: Jira Cloud with the account's email and API token
    (basic auth), Jira Data Center with a personal access token (bearer, REST v2 dialect)."""
    token = access.token or ""
    if access.kind == CLOUD_SITE:
        return api_token_site(base_url, email=access.email or "", api_token=token)
    # Imported here: `connector.jira.datacenter` builds on this module.
    from connector.jira.datacenter import datacenter_site

    return datacenter_site(base_url, token=token)


def tenant_site(tenant: Tenant, *, app_key: str) -> JiraSite:
    """How to reach an installed tenant's site: the strategy is chosen here, and nowhere else.
    A Connect install signs with its shared secret; a tenant installed only through Forge
    calls the gateway URL Forge named with the system token Forge last handed over; a site
    connected without an install (`connector site add`) uses its account's token."""
    if tenant.site is not None:
        return site_access_site(tenant.base_url, tenant.site)
    if tenant.shared_secret is not None:
        return connect_site(tenant.base_url, app_key=app_key, shared_secret=tenant.shared_secret)
    forge = tenant.forge
    api_base_url = (forge.api_base_url if forge else None) or tenant.base_url
    return JiraSite(
        base_url=api_base_url,
        auth=SystemTokenAuth(
            api_base_url,
            token=forge.system_token if forge else None,
            expires_at=forge.token_expires_at if forge else None,
        ),
    )
