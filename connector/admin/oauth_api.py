"""Signing a mail source in with Google or Microsoft (OAuth2), from the admin API.

`POST /api/v1/mail-sources/{id}/oauth/start` (administrators) takes the tenant's own app
registration. Delegated access answers the provider's sign-in URL; the admin's browser comes
back to `GET /oauth/callback`, which carries no JWT: the `state` is its authentication, single
use, expiring after ten minutes and bound to one source. Application access (Microsoft client
credentials) gets its token at once. Secrets and tokens are stored encrypted and never answered.
"""

from __future__ import annotations

import hmac
import html
import logging
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from connector import logs
from connector.admin.endpoint import Answer, ApiCall, log_action
from connector.admin.errors import ApiError
from connector.admin.sources_api import find_source
from connector.oauth_store import (
    CALLBACK_PATH,
    OAuthApp,
    connected_json,
    new_state,
    pending_json,
    redirect_uri,
    source_id_of_state,
)
from connector.runtime import Runtime
from connector.sources.errors import SourceConfigError, SourceConnectionError
from connector.sources.oauth import (
    OAuthError,
    client_credentials,
    finish_authorization,
    start_authorization,
)
from connector.sources.oauth_config import OAuthTokens

log = logging.getLogger(__name__)

__all__ = ["CALLBACK_PATH", "oauth_callback", "start_oauth"]

_START_FIELDS = frozenset({"provider", "client_id", "client_secret", "tenant", "access"})
_EXPIRED = "this sign-in link is not valid, was already used or has expired: start again"


def start_oauth(call: ApiCall) -> Answer:
    """POST /api/v1/mail-sources/{source_id}/oauth/start"""
    source = find_source(call)
    app = _app_from_body(call, source.id)
    runtime = call.runtime
    try:
        config = app.client_config(source.spec.protocol, redirect_uri(runtime.settings.base_url))
    except SourceConfigError as exc:
        raise ApiError.invalid(exc) from exc
    if app.access == "application":
        try:
            tokens = client_credentials(config)
        except OAuthError as exc:
            raise ApiError(
                400,
                f"{exc}",
                field="client_secret",
                extra={"server_message": exc.server_message},
            ) from exc
        except SourceConnectionError as exc:
            raise ApiError(502, str(exc)) from exc
        _store_tokens(runtime, source.id, app, tokens, tenant_id=call.tenant.id)
        log_action(call, "oauth_connected", source_id=source.id, provider=app.provider)
        return Answer({"connected": True})
    state = new_state(source.id)
    try:
        started = start_authorization(config, state, login_hint=source.spec.username or None)
    except SourceConfigError as exc:
        raise ApiError.invalid(exc) from exc
    except OAuthError as exc:
        raise ApiError(400, str(exc), extra={"server_message": exc.server_message}) from exc
    except SourceConnectionError as exc:
        raise ApiError(502, str(exc)) from exc
    pending = pending_json(app, started.flow_state, datetime.now(UTC))

    def change(current: dict[str, Any] | None) -> dict[str, Any]:
        return {**(current or {}), "pending": pending}

    if not runtime.sources.change_oauth(source.id, change, tenant_id=call.tenant.id):
        raise ApiError(409, "the source's sign-in changed meanwhile: start again")
    log_action(call, "oauth_started", source_id=source.id, provider=app.provider)
    return Answer({"authorization_url": started.url})


async def oauth_callback(request: Request) -> Response:
    """GET /oauth/callback?code=&state= : where Google or Microsoft send the browser back."""
    runtime: Runtime = request.app.state.runtime
    query = dict(request.query_params)
    return await run_in_threadpool(_callback, runtime, query)


def _callback(runtime: Runtime, query: dict[str, str]) -> Response:
    state = query.get("state") or ""
    source_id = source_id_of_state(state)
    if source_id is None:
        return _page(400, "Not connected", _EXPIRED)
    taken: list[dict[str, Any]] = []

    def consume(current: dict[str, Any] | None) -> dict[str, Any] | None:
        pending = (current or {}).get("pending")
        if not isinstance(pending, dict):
            raise _Refused
        flow_state = pending.get("flow_state") or {}
        expected = str(flow_state.get("state") or "")
        if not expected or not hmac.compare_digest(expected.encode(), state.encode()):
            raise _Refused
        if datetime.fromisoformat(str(pending["expires_at"])) <= datetime.now(UTC):
            raise _Refused
        taken.append(pending)
        rest = {k: v for k, v in (current or {}).items() if k != "pending"}
        return rest or None

    try:
        consumed = runtime.sources.change_oauth(source_id, consume)
    except _Refused:
        consumed = False
    if not consumed or not taken:
        logs.event(log, "oauth.callback_refused", logging.WARNING, source_id=source_id)
        return _page(400, "Not connected", _EXPIRED)
    pending = taken[0]
    app = OAuthApp.from_json(pending["app"])
    source = runtime.sources.find(source_id)
    if source is None:
        return _page(400, "Not connected", _EXPIRED)
    try:
        config = app.client_config(source.spec.protocol, redirect_uri(runtime.settings.base_url))
        tokens = finish_authorization(config, pending["flow_state"], query)
    except OAuthError as exc:
        logs.event(
            log, "oauth.callback_failed", logging.WARNING, source_id=source_id, error=exc.error
        )
        return _page(400, "Not connected", f"{exc}")
    except (SourceConfigError, SourceConnectionError) as exc:
        return _page(
            502 if isinstance(exc, SourceConnectionError) else 400, "Not connected", str(exc)
        )
    _store_tokens(runtime, source_id, app, tokens)
    logs.event(log, "oauth.connected", source_id=source_id, provider=app.provider)
    return _page(200, "Connected", "Connected: you can close this window.")


def _store_tokens(
    runtime: Runtime,
    source_id: int,
    app: OAuthApp,
    tokens: OAuthTokens,
    *,
    tenant_id: int | None = None,
) -> None:
    def change(_current: dict[str, Any] | None) -> dict[str, Any]:
        return connected_json(app, tokens)

    for _ in range(5):
        if runtime.sources.change_oauth(
            source_id, change, tenant_id=tenant_id, clear_password=True
        ):
            return
    raise ApiError(409, "the source's sign-in changed meanwhile: start again")


def _app_from_body(call: ApiCall, source_id: int) -> OAuthApp:
    body = call.body()
    for name in body:
        if name not in _START_FIELDS:
            raise ApiError(400, f"{name}: is not an OAuth setting", field=name)
        if not isinstance(body[name], str):
            raise ApiError(400, f"{name}: must be a string", field=name)
    provider = body.get("provider")
    if provider not in ("google", "microsoft"):
        raise ApiError(400, "provider: must be google or microsoft", field="provider")
    client_id = (body.get("client_id") or "").strip()
    if not client_id:
        raise ApiError(400, "client_id: is required", field="client_id")
    secret = body.get("client_secret") or ""
    if not secret:
        # Write-only like a password: signing in again with the same app may leave it out.
        stored = (call.runtime.sources.oauth(source_id) or {}).get("app") or {}
        if stored.get("provider") == provider and stored.get("client_id") == client_id:
            secret = str(stored.get("client_secret") or "")
    if not secret:
        raise ApiError(400, "client_secret: is required", field="client_secret")
    return OAuthApp(
        provider=provider,
        client_id=client_id,
        client_secret=secret,
        tenant=body.get("tenant") or "organizations",
        access=body.get("access") or "delegated",
    )


def _page(status: int, title: str, message: str) -> HTMLResponse:
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'",
            "X-Content-Type-Options": "nosniff",
        },
    )


class _Refused(Exception):
    pass
