"""Signed install: verify Connect lifecycle callbacks (apiMigrations "signed-install").

Atlassian signs every lifecycle callback with RS256; the public key for the token's `kid` is
published at `{CONNECT_INSTALL_KEYS_URL}/{kid}` (developer.atlassian.com/cloud/jira/platform/
security-for-connect-apps/#validating-installation-lifecycle-requests). The token's `aud` must
be our BASE_URL, its qsh must match the callback request, and its `iss` must be the clientKey
in the body, so a token for one site can never install or uninstall another.

The payload's `baseUrl` is where the app then sends its signed Jira calls, and `displayUrl` is
shown as a link to admins and customers. In production (BASE_URL not loopback) `baseUrl` must
be a Jira Cloud site and both must be https; everywhere, `displayUrl` must be a web address
(never `javascript:`), and neither may carry credentials. Development keeps accepting a fake
Jira on loopback.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from connector.connect.jwt import (
    JwtError,
    RequestTarget,
    read_unverified,
    token_from_authorization,
    verify_install_token,
)
from connector.net.addresses import is_host_name
from connector.tenant import InstallPayload

# Key ids are opaque, but they end up in a URL path: allow only what cannot change the path.
_KID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_REQUIRED_TEXT_FIELDS = ("key", "clientKey", "baseUrl", "productType")
# Optional: sites send it for apps that may act as users (scope ACT_AS_USER). It goes into the
# `iss` of impersonation assertions, so only visible ASCII is accepted.
_OAUTH_CLIENT_ID_PATTERN = _PRINTABLE_ID = re.compile(r"[\x21-\x7e]{1,255}")
# Jira Cloud sites live under these domains; the app sends its signed calls to `baseUrl`, so
# outside development nothing else is accepted there.
_ATLASSIAN_DOMAINS = (".atlassian.net", ".jira.com", ".jira-dev.com")
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]")


class InstallError(Exception):
    """A lifecycle callback that must be refused; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class InstallKeyStore:
    """Fetches Atlassian's install public keys by kid and caches them.

    A kid names one key pair for good, so a fetched key is cached for a long time; unknown kids
    are not cached (an attacker could otherwise fill the cache with junk), and the cache is
    bounded.
    """

    def __init__(
        self,
        keys_url: str,
        *,
        ttl_seconds: float = 24 * 3600,
        max_entries: int = 64,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._keys_url = keys_url.rstrip("/")
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._timeout = timeout_seconds
        self._transport = transport
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    async def public_key(self, kid: str) -> str:
        if not _KID_PATTERN.match(kid):
            raise InstallError("install token has an invalid key id")
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(kid)
            if cached is not None and cached[0] > now:
                return cached[1]
        pem = await self._fetch(kid)
        with self._lock:
            if len(self._cache) >= self._max_entries:
                oldest = min(self._cache, key=lambda k: self._cache[k][0])
                del self._cache[oldest]
            self._cache[kid] = (now + self._ttl, pem)
        return pem

    async def _fetch(self, kid: str) -> str:
        url = f"{self._keys_url}/{kid}"
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout, transport=self._transport
            ) as client:
                response = await client.get(url)
        except httpx.HTTPError as exc:
            # Not the caller's fault, but we cannot trust the install either: Jira retries.
            raise InstallError(f"install key server unreachable: {exc}", status=503) from exc
        if response.status_code == 404:
            raise InstallError("install token names an unknown key id")
        if response.status_code != 200:
            raise InstallError(f"install key server answered {response.status_code}", status=503)
        pem = response.text
        if "BEGIN PUBLIC KEY" not in pem:
            raise InstallError("install key server did not answer with a public key", status=503)
        return pem


async def verify_lifecycle_token(
    *,
    authorization: str | None,
    target: RequestTarget,
    audience: str,
    keys: InstallKeyStore,
) -> dict[str, Any]:
    """Verify a lifecycle callback's RS256 token from its headers alone; return the claims.

    The token's qsh covers the method, path and query, not the body, so everything but the
    issuer can be checked before the body is read: a request without a valid token is refused
    unread. `check_client_key` then ties the claims to the body.
    """
    try:
        token = token_from_authorization(authorization)
        header, _ = read_unverified(token)
    except JwtError as exc:
        raise InstallError(str(exc)) from exc
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InstallError("install token has no key id (kid)")
    public_key = await keys.public_key(kid)
    try:
        return verify_install_token(token, public_key, audience=audience, target=target)
    except JwtError as exc:
        raise InstallError(str(exc)) from exc


def check_client_key(claims: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    """The token must be the site's own: its `iss` is the body's clientKey."""
    if claims.get("iss") != body.get("clientKey"):
        raise InstallError("install token issuer does not match the body's clientKey")


def parse_install_payload(
    body: Mapping[str, Any], *, app_key: str, production: bool = True
) -> InstallPayload:
    """`production` (BASE_URL not loopback): `baseUrl` must be an Atlassian site; only in
    development may it be anything http(s), such as a fake Jira on loopback."""
    for name in _REQUIRED_TEXT_FIELDS:
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InstallError(f"install payload has no {name}", status=400)
    secret = body.get("sharedSecret")
    if not isinstance(secret, str) or len(secret) < 16:
        raise InstallError("install payload has no usable sharedSecret", status=400)
    if body["key"] != app_key:
        raise InstallError(
            f"install payload is for app {body['key']!r}, this is {app_key!r}", status=400
        )
    base_url = str(body["baseUrl"]).rstrip("/")
    problem = site_url_problem(base_url, production=production, atlassian=True)
    if problem is not None:
        raise InstallError(f"install payload baseUrl {problem}", status=400)
    display_url = body.get("displayUrl")
    if display_url is not None:
        if not isinstance(display_url, str):
            raise InstallError("install payload displayUrl is not text", status=400)
        display_url = display_url.rstrip("/")
        # Shown as a link on the admin pages and in customers' mail: never javascript: etc.
        problem = site_url_problem(display_url, production=production, atlassian=False)
        if display_url and problem is not None:
            raise InstallError(f"install payload displayUrl {problem}", status=400)
    oauth_client_id = body.get("oauthClientId")
    if oauth_client_id is not None and (
        not isinstance(oauth_client_id, str)
        or not _OAUTH_CLIENT_ID_PATTERN.fullmatch(oauth_client_id)
    ):
        raise InstallError(
            "install payload oauthClientId must be 1-255 printable characters without spaces",
            status=400,
        )
    installation_id = body.get("installationId")
    if installation_id is not None and (
        not isinstance(installation_id, str) or not _PRINTABLE_ID.fullmatch(installation_id)
    ):
        raise InstallError(
            "install payload installationId must be 1-255 printable characters without spaces",
            status=400,
        )
    return InstallPayload(
        key=str(body["key"]),
        client_key=str(body["clientKey"]),
        shared_secret=secret,
        base_url=base_url,
        display_url=display_url or base_url,
        product_type=str(body["productType"]),
        description=str(body.get("description") or ""),
        server_version=str(body.get("serverVersion") or ""),
        plugins_version=str(body.get("pluginsVersion") or ""),
        oauth_client_id=oauth_client_id,
        # Connect-on-Forge apps: the Forge installation (ARI) this site is, so Forge calls
        # naming it find this tenant (connector.storage.forge_installations).
        installation_id=installation_id,
    )


def site_url_problem(url: str, *, production: bool, atlassian: bool) -> str | None:
    """What is wrong with a site URL from an install payload, or None.

    Always: http(s), a host, no user name or password, no query or fragment, no spaces or
    control characters. In production: https only, and with `atlassian` the host is a Jira
    Cloud site on the default port.
    """
    if _URL_FORBIDDEN.search(url):
        return "contains spaces, control characters or backslashes"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "is not an http(s) URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not carry a user name or password"
    if parts.query or parts.fragment:
        return "must not have a query or fragment"
    if not production:
        return None
    if parts.scheme != "https":
        return "must be https"
    if atlassian and (
        not is_host_name(parts.hostname)
        or not parts.hostname.endswith(_ATLASSIAN_DOMAINS)
        or port not in (None, 443)
        or parts.path not in ("", "/")
    ):
        return "must be a Jira Cloud site: https://<site>.atlassian.net (or .jira.com)"
    return None
