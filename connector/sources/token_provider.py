"""`TokenProvider`: a mailbox's OAuth2 access token, renewed before it expires.

A source gets one as `SourceConfig.access_token`. It renews through `connector.sources.oauth`
(a refresh token, or client credentials for application access), logs each renewal without
token values, and reports rotated refresh tokens through `on_refresh` for the caller to store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from connector import logs
from connector.sources.errors import SourceAuthError, SourceConfigError
from connector.sources.oauth import client_credentials, refresh
from connector.sources.oauth_config import OAuthClientConfig, OAuthTokens

# The token events keep the logger they had before this module was split from oauth.py, so
# log filters and dashboards that name it still match.
log = logging.getLogger("connector.sources.oauth")

REFRESH_MARGIN = timedelta(minutes=5)


class TokenProvider:
    """The `access_token` callable of a `SourceConfig`: a valid token at every call.

    Tokens are renewed `margin` before they expire, so a connection never starts with a token
    that dies mid-poll. After each renewal `on_refresh(tokens)` runs, so the caller stores the
    refresh token it must keep (encrypted); if it raises, the error reaches the poll. Renewal
    that fails raises `SourceAuthError` with the provider's words. Thread-safe.
    """

    def __init__(
        self,
        config: OAuthClientConfig,
        tokens: OAuthTokens | None = None,
        *,
        on_refresh: Callable[[OAuthTokens], None] | None = None,
        source: str = "",
        margin: timedelta = REFRESH_MARGIN,
        clock: Callable[[], datetime] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        if tokens is None and config.access == "delegated":
            raise SourceConfigError("access_token", "delegated access needs the signed-in tokens")
        self._config = config
        self._tokens = tokens
        self._on_refresh = on_refresh
        self._source = source
        self._margin = margin
        self._clock = clock or (lambda: datetime.now(UTC))
        self._http_client = http_client
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            tokens = self._tokens
            if tokens is None or tokens.expires_within(self._margin, self._clock()):
                tokens = self._renew(tokens)
            return tokens.access_token

    @property
    def expires_at(self) -> datetime | None:
        return self._tokens.expires_at if self._tokens else None

    @property
    def account(self) -> str | None:
        return self._tokens.account if self._tokens else None

    def __repr__(self) -> str:
        return (
            f"TokenProvider(provider={self._config.provider!r}, access={self._config.access!r}, "
            f"source={self._source!r}, expires_at={self.expires_at!r})"
        )

    def _renew(self, old: OAuthTokens | None) -> OAuthTokens:
        config = self._config
        try:
            if config.access == "application":
                tokens = client_credentials(config, http_client=self._http_client)
            else:
                refresh_token = old.refresh_token if old else None
                tokens = refresh(config, refresh_token or "", http_client=self._http_client)
        except SourceAuthError as exc:
            logs.event(
                log,
                "source.token_refresh_failed",
                logging.WARNING,
                source=self._source,
                provider=config.provider,
                error=exc.server_message,
            )
            raise
        self._tokens = tokens
        rotated = old is not None and tokens.refresh_token != old.refresh_token
        logs.event(
            log,
            "source.token_refreshed",
            source=self._source,
            provider=config.provider,
            access=config.access,
            expires_at=tokens.expires_at.isoformat(timespec="seconds"),
            rotated=rotated,
        )
        if self._on_refresh is not None:
            self._on_refresh(tokens)
        return tokens
