"""A source's OAuth state, as stored (encrypted) in `mail_sources.oauth_encrypted`.

Bring-your-own app: the tenant's admin registers an app at Google or Microsoft and gives us its
client id and secret; they are kept per source with the tokens, all inside one Fernet-encrypted
JSON object, and never returned by the API. The object holds:

- `app`: provider, client_id, client_secret, tenant, access of the signed-in app;
- `tokens`: access token, refresh token, expiry, account (present = the source uses OAuth);
- `pending`: a sign-in started and not finished: its app, the `flow_state` (with the PKCE
  verifier) and `expires_at`. The app becomes the active one only when the sign-in succeeds, so
  a sign-in abandoned half-way leaves a working source as it was.

The `state` sent to the provider is `<source id>.<random>`: the callback finds the source by it
and compares the whole value, in constant time, with the one stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.mail_source import MailSource
from connector.sources.errors import SourceAuthError, SourceConfigError
from connector.sources.oauth_config import OAuthClientConfig, OAuthTokens
from connector.sources.token_provider import TokenProvider
from connector.storage.sources import SourceRepository

FLOW_LIFETIME = timedelta(minutes=10)
CALLBACK_PATH = "/oauth/callback"
_SAVE_ATTEMPTS = 5


@dataclass(frozen=True)
class OAuthApp:
    """The tenant's own app registration at the provider."""

    provider: str
    client_id: str
    client_secret: str = field(repr=False)
    tenant: str = "organizations"
    access: str = "delegated"

    def to_json(self) -> dict[str, str]:
        return {
            "provider": self.provider,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "tenant": self.tenant,
            "access": self.access,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OAuthApp:
        return cls(
            provider=str(data["provider"]),
            client_id=str(data["client_id"]),
            client_secret=str(data["client_secret"]),
            tenant=str(data.get("tenant") or "organizations"),
            access=str(data.get("access") or "delegated"),
        )

    def client_config(self, protocol: str, redirect_uri: str | None) -> OAuthClientConfig:
        """Raises `SourceConfigError` naming the field at fault."""
        return OAuthClientConfig(
            provider=self.provider,  # type: ignore[arg-type]
            client_id=self.client_id,
            client_secret=self.client_secret,
            redirect_uri=redirect_uri if self.access == "delegated" else None,
            tenant=self.tenant,
            protocol=protocol,  # type: ignore[arg-type]
            access=self.access,  # type: ignore[arg-type]
        )


def redirect_uri(base_url: str) -> str:
    return base_url.rstrip("/") + CALLBACK_PATH


def new_state(source_id: int) -> str:
    return f"{source_id}.{secrets.token_urlsafe(32)}"


def source_id_of_state(state: str) -> int | None:
    prefix, dot, rest = state.partition(".")
    if not dot or not rest or not prefix.isdigit() or len(prefix) > 18:
        return None
    return int(prefix)


def tokens_to_json(tokens: OAuthTokens) -> dict[str, Any]:
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at.isoformat(),
        "scopes": list(tokens.scopes),
        "account": tokens.account,
    }


def tokens_from_json(data: Mapping[str, Any]) -> OAuthTokens:
    expires_at = datetime.fromisoformat(str(data["expires_at"]))
    refresh_token = data.get("refresh_token")
    account = data.get("account")
    return OAuthTokens(
        access_token=str(data["access_token"]),
        refresh_token=str(refresh_token) if refresh_token else None,
        expires_at=expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC),
        scopes=tuple(str(s) for s in data.get("scopes") or ()),
        account=str(account) if account else None,
    )


def pending_json(app: OAuthApp, flow_state: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "app": app.to_json(),
        "flow_state": dict(flow_state),
        "expires_at": (now + FLOW_LIFETIME).isoformat(),
    }


def connected_json(app: OAuthApp, tokens: OAuthTokens) -> dict[str, Any]:
    """The state of a signed-in source; any pending sign-in is over."""
    return {"app": app.to_json(), "tokens": tokens_to_json(tokens)}


def token_provider(sources: SourceRepository, source: MailSource) -> TokenProvider:
    """The `access_token` for a source that signs in with OAuth; renewed tokens are stored
    (encrypted) before they are used. Raises `SourceAuthError` when there is nothing to use."""
    state = sources.oauth(source.id)
    if state is None or state.get("tokens") is None or state.get("app") is None:
        raise SourceAuthError("OAuth is not connected", "sign in again from the source's settings")
    app = OAuthApp.from_json(state["app"])
    try:
        config = app.client_config(source.spec.protocol, None)  # refreshing needs no redirect
    except SourceConfigError as exc:
        raise SourceAuthError("the stored OAuth app is not usable", str(exc)) from exc
    client_id = app.client_id

    def on_refresh(tokens: OAuthTokens) -> None:
        def change(current: dict[str, Any] | None) -> dict[str, Any]:
            if current is None or (current.get("app") or {}).get("client_id") != client_id:
                # Signed in again with another app meanwhile: those tokens win.
                raise _Superseded
            return {**current, "tokens": tokens_to_json(tokens)}

        for _ in range(_SAVE_ATTEMPTS):
            try:
                if sources.change_oauth(source.id, change):
                    return
            except _Superseded:
                return
        raise SourceAuthError("could not store the renewed OAuth token", "try again")

    return TokenProvider(
        config, tokens_from_json(state["tokens"]), on_refresh=on_refresh, source=source.label
    )


class _Superseded(Exception):
    pass
