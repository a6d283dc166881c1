"""The admin pages in a normal browser tab, for sites connected without an install: the
sign-in link's page, the session cookie, and what the pages and the admin API ask of it
(the rules are in `connector.sites.signin`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from connector import logs
from connector.admin.errors import ApiError
from connector.connect.auth import AuthenticatedRequest
from connector.http_body import BodyError, read_body
from connector.runtime import Runtime
from connector.sites.signin import (
    COOKIE_NAME,
    CSRF_HEADER,
    IDLE_TIMEOUT,
    MAX_LIFETIME,
    SIGNIN_PATH,
    SIGNOUT_PATH,
    LinkError,
    csrf_matches,
    csrf_token,
    hashed,
    link_tenant,
    new_session_id,
)
from connector.storage.admin_sessions import AdminSessions
from connector.tenant import Tenant

log = logging.getLogger(__name__)

_FORM_MAX_BYTES = 4096
SIGNED_OUT = (
    "You are signed out. For a new sign-in link, run `connector admin-link --site <the site's "
    "address>` where the connector runs."
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The sign-in pages are never framed, and load nothing but our stylesheet.
SIGNIN_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
_environment = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


@dataclass(frozen=True)
class BrowserSession:
    """A signed-in browser tab: the tenant, the account it acts as, its cookie value."""

    tenant: Tenant
    account_id: str
    session_id: str

    def csrf(self, runtime: Runtime) -> str:
        return csrf_token(runtime.settings.encryption_keys, self.session_id)


def browser_session(request: Request) -> BrowserSession | None:
    """The live session the request's cookie names, its idle clock restarted; or None."""
    session_id = request.cookies.get(COOKIE_NAME)
    if not session_id:
        return None
    runtime: Runtime = request.app.state.runtime
    found = AdminSessions(runtime.engine).touch(
        hashed(session_id), idle=IDLE_TIMEOUT, lifetime=MAX_LIFETIME
    )
    tenant = None if found is None else runtime.tenants.by_id(found.tenant_id)
    if found is None or tenant is None or not tenant.active or tenant.site is None:
        return None
    return BrowserSession(tenant, found.account_id, session_id)


def session_caller(request: Request) -> AuthenticatedRequest | None:
    """The admin API's caller from a session cookie; 403 when a state-changing call lacks
    the session's CSRF token. None when there is no live session."""
    session = browser_session(request)
    if session is None:
        return None
    runtime: Runtime = request.app.state.runtime
    if request.method not in SAFE_METHODS and not csrf_matches(
        runtime.settings.encryption_keys, session.session_id, request.headers.get(CSRF_HEADER, "")
    ):
        raise ApiError(403, "the request lacks this session's CSRF token; reload the page")
    return AuthenticatedRequest(tenant=session.tenant, claims={"sub": session.account_id})


def _page(runtime: Runtime, status: int = 200, **context: object) -> HTMLResponse:
    body = _environment.get_template("signin.html").render(
        title="Sign in",
        base_path=runtime.settings.base_path,
        signin_path=SIGNIN_PATH,
        **context,
    )
    return HTMLResponse(body, status_code=status, headers=SIGNIN_HEADERS)


def _linked_tenant(runtime: Runtime, token: str) -> Tenant:
    """The active, install-free tenant a genuine link names; `LinkError` otherwise."""
    tenant_id = link_tenant(runtime.settings.encryption_keys, token)
    tenant = runtime.tenants.by_id(tenant_id)
    if tenant is None or tenant.site is None or not tenant.active:
        raise LinkError("this sign-in link is for a site that is no longer connected")
    return tenant


async def signin_page(request: Request) -> Response:
    """What opening the link shows: a button, so that fetching the link uses nothing up."""
    runtime: Runtime = request.app.state.runtime
    token = request.query_params.get("token", "")
    if not token:  # where signing out leads
        return _page(runtime, site="", reason=SIGNED_OUT)
    try:
        tenant = _linked_tenant(runtime, token)
    except LinkError as exc:
        return _page(runtime, 400, site="", reason=str(exc))
    account = tenant.site.email if tenant.site else None
    return _page(runtime, site=tenant.display_url, token=token, account=account or "")


async def signin(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        form = dict(parse_qsl((await read_body(request, limit=_FORM_MAX_BYTES)).decode()))
    except (BodyError, UnicodeDecodeError):
        return _page(runtime, 400, site="", reason="the sign-in form was not understood")
    token = form.get("token", "")
    try:
        tenant = _linked_tenant(runtime, token)
        if tenant.site is None or not tenant.site.account_id:
            raise LinkError("the site's account is not known; add the site again")
        if not AdminSessions(runtime.engine).use_link(hashed(token), tenant.id):
            raise LinkError("this sign-in link was used already: print a new one")
    except LinkError as exc:
        logs.event(log, "admin.signin_refused", reason=exc)
        return _page(runtime, 400, site="", reason=str(exc))
    session_id = new_session_id()
    AdminSessions(runtime.engine).open(hashed(session_id), tenant.id, tenant.site.account_id)
    logs.event(log, "admin.signed_in", client_key=tenant.client_key)
    base_path = runtime.settings.base_path
    response = RedirectResponse(f"{base_path}/pages/admin", status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        session_id,
        path=f"{base_path}/",
        httponly=True,
        secure=runtime.settings.base_url.startswith("https://"),
        samesite="strict",
    )
    return response


async def signout(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    session = browser_session(request)
    if session is not None:
        if not csrf_matches(
            runtime.settings.encryption_keys,
            session.session_id,
            request.headers.get(CSRF_HEADER, ""),
        ):
            return ApiError(403, "the request lacks this session's CSRF token").to_response()
        AdminSessions(runtime.engine).close(hashed(session.session_id))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE_NAME, path=f"{runtime.settings.base_path}/")
    return response


def signin_routes() -> list[Route]:
    return [
        Route(SIGNIN_PATH, signin_page, methods=["GET"]),
        Route(SIGNIN_PATH, signin, methods=["POST"]),
        Route(SIGNOUT_PATH, signout, methods=["POST"]),
    ]
