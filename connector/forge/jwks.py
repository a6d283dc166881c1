"""The keys Forge Invocation Tokens are signed with, fetched from a JWKS and cached.

Production tokens are checked against FORGE_JWKS_URL (Atlassian's production JWKS by
default, developer.atlassian.com/platform/forge/remote/essentials/); tokens of a staging
installation against the staging JWKS (`connector.forge.invocation.read_header` tells which).
Both URLs are the operator's or Atlassian's, never taken from a request, so unlike a tenant's
mail host they need no host policy; as for Connect's install keys (`connector.connect.install`)
they are fetched with httpx, without following redirects, and the answer is capped.

A document is cached for `max_age_seconds`. A token naming a key id the cached document lacks
(Atlassian rotated its keys) makes one refetch, at most once per `refetch_interval_seconds`
per URL, so tokens with made-up key ids cannot make us fetch on every request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from connector.forge.invocation import InvocationError, parse_jwks
from connector.http_body import parse_json

STAGING_JWKS_URL = "https://forge.cdn.stg.atlassian-dev.net/.well-known/jwks.json"
# Atlassian's JWKS is a few keys, well under a kilobyte each.
MAX_JWKS_BYTES = 256 * 1024


@dataclass
class _Cached:
    keys: dict[str, Any]
    fetched_at: float


class ForgeKeyStore:
    def __init__(
        self,
        jwks_url: str,
        *,
        staging_jwks_url: str = STAGING_JWKS_URL,
        max_age_seconds: float = 3600.0,
        refetch_interval_seconds: float = 60.0,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._urls = {False: jwks_url, True: staging_jwks_url}
        self._max_age = max_age_seconds
        self._refetch_interval = refetch_interval_seconds
        self._timeout = timeout_seconds
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, _Cached] = {}
        self._last_fetch: dict[str, float] = {}

    async def public_key(self, kid: str, *, staging: bool = False) -> Any:
        """The key `kid` names; InvocationError(401) when the JWKS has no such key,
        InvocationError(503) when the JWKS cannot be fetched."""
        url = self._urls[staging]
        now = self._clock()
        with self._lock:
            cached = self._cache.get(url)
            fresh = cached is not None and now - cached.fetched_at < self._max_age
            if fresh and cached is not None and kid in cached.keys:
                return cached.keys[kid]
            last = self._last_fetch.get(url)
            may_fetch = last is None or now - last >= self._refetch_interval
            if may_fetch:
                self._last_fetch[url] = now
        if may_fetch:
            cached = _Cached(await self._fetch(url), now)
            with self._lock:
                self._cache[url] = cached
        elif cached is None:
            raise InvocationError("Forge keys are not available yet; try again shortly", 503)
        if kid in cached.keys:
            return cached.keys[kid]
        raise InvocationError("token is signed by an unknown key")

    async def _fetch(self, url: str) -> dict[str, Any]:
        try:
            async with (
                httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client,
                client.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise InvocationError(
                        f"Forge key server answered {response.status_code}", status=503
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise InvocationError("Forge key server answer is too large", status=503)
        except httpx.HTTPError as exc:
            # Not the caller's fault, and not a token failure: Forge retries a 503.
            raise InvocationError(
                f"Forge key server unreachable: {type(exc).__name__}", status=503
            ) from None
        try:
            return parse_jwks(parse_json(bytes(body)))
        except Exception as exc:  # BodyError or ValueError: the answer is no usable JWKS
            raise InvocationError(f"Forge key server answer is no JWKS: {exc}", 503) from None
