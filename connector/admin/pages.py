"""Pages Jira shows in iframes: set-up wizard, mail sources, email log, notifications, project tab.

Jira loads each page with `?jwt=` whose qsh covers the page URL (and its query, so a project
key in the URL cannot be swapped), so every page verifies it before showing anything about the
tenant. The page itself only carries the frame; its data comes from the admin API, called by
the page's script with context tokens from `AP.context.getToken()`, where the administrator
check happens. Templates are autoescaped: nothing from a request or a mailbox reaches the HTML
unescaped, and the scripts write mail-derived text with `textContent` only.

A site connected without an install has no Jira frame: its pages open in a normal browser tab
signed in with `connector admin-link` (`connector.admin.site_session`), without `AP`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from connector import logs
from connector.admin.site_session import BrowserSession, browser_session
from connector.admin.sources_api import KEPT_ON_DELETE, REMOVED_ON_DELETE
from connector.connect.auth import AuthenticationError
from connector.connect.http import authenticate_request
from connector.oauth_store import redirect_uri
from connector.runtime import Runtime
from connector.sources.presets import PRESETS

log = logging.getLogger(__name__)

# Atlassian's Connect JavaScript API (AP) must come from its CDN for the iframe bridge to work
# (developer.atlassian.com/cloud/jira/platform/about-the-javascript-api/).
AP_SCRIPT = "https://connect-cdn.atl-paas.net/all.js"

# Scripts only from us and the Connect CDN; the API only on our own origin. Styles allow
# inline because all.js sizes the iframe with style attributes.
_CSP = (
    "default-src 'self'; "
    f"script-src 'self' {AP_SCRIPT}; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "connect-src 'self'; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "form-action 'self'"
)
# Outside Jira (a browser tab signed in with `connector admin-link`): no Connect script, and
# never in a frame, since the session cookie would act for whoever framed it.
_STANDALONE_CSP = (
    "default-src 'self'; "
    "script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "connect-src 'self'; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)

_TEMPLATES = Path(__file__).with_name("templates")
_environment = Environment(
    loader=FileSystemLoader(_TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class PageSpec:
    template: str
    title: str
    nav: str  # which navigation tab is current
    script: str  # its module under static/


# Keyed by the paths the descriptor declares (`descriptor.render.page_paths`).
PAGES: dict[str, PageSpec] = {
    "/pages/admin": PageSpec("sources.html", "Mail sources", "sources", "sources.js"),
    "/pages/setup": PageSpec("setup.html", "Set up", "setup", "setup.js"),
    "/pages/email-log": PageSpec("email_log.html", "Email log", "email-log", "email-log.js"),
    "/pages/notifications": PageSpec(
        "notifications.html", "Notifications", "notifications", "notifications.js"
    ),
    "/pages/project-settings": PageSpec("project.html", "Mail Connector", "project", "project.js"),
}

# Module keys as the descriptor names them, for AP.navigator.go between the pages.
MODULE_KEYS = {
    "sources": "mail-connector-admin",
    "setup": "mail-connector-setup",
    "email-log": "mail-connector-email-log",
    "notifications": "mail-connector-notifications",
}


def presets_json() -> list[dict[str, Any]]:
    """The provider presets as the wizard's picker needs them."""
    found = []
    for preset in PRESETS.values():
        endpoints = {
            name: {"host": ep.host, "port": ep.port, "security": ep.security}
            for name, ep in (("imap", preset.imap), ("pop3", preset.pop3))
            if ep is not None
        }
        found.append(
            {
                "key": preset.key,
                "name": preset.name,
                "oauth": preset.oauth,
                "note": preset.note,
                "endpoints": endpoints,
            }
        )
    return found


def render_page(path: str, *, ap_script: str | None = AP_SCRIPT, **context: Any) -> str:
    """`ap_script` None: the page is shown outside Jira, with a session (`csrf` its token)."""
    spec = PAGES[path]
    template = _environment.get_template(spec.template)
    return template.render(
        title=spec.title,
        nav=spec.nav,
        script=spec.script,
        ap_script=ap_script,
        page_paths={spec.nav: page_path for page_path, spec in PAGES.items()},
        module_keys=MODULE_KEYS,
        presets=presets_json(),
        kept_on_delete=KEPT_ON_DELETE,
        removed_on_delete=REMOVED_ON_DELETE,
        **context,
    )


def _refused(reason: str) -> Response:
    body = _environment.get_template("refused.html").render(
        title="Not authorised", reason=reason, ap_script=AP_SCRIPT
    )
    return HTMLResponse(body, status_code=401, headers={"Content-Security-Policy": _CSP})


async def page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    # The route's own path: what the router matched, whatever prefix a proxy added.
    path = str(request.scope["path"]).removeprefix(str(request.scope.get("root_path", "")))
    if "jwt" not in request.query_params:
        session = browser_session(request)
        if session is not None:
            return _standalone(runtime, request, path, session)
    try:
        authenticated = authenticate_request(
            request, tenants=runtime.tenants, base_path=runtime.settings.base_path
        )
    except AuthenticationError as exc:
        logs.event(log, "admin.page_refused", logging.WARNING, path=request.url.path, reason=exc)
        return _refused(str(exc))
    if path not in PAGES:
        return HTMLResponse("no such page", status_code=404)
    body = render_page(
        path,
        site=authenticated.tenant.display_url,
        base_path=runtime.settings.base_path,
        # What the admin registers with Google or Microsoft for the sign-in (set-up page).
        oauth_redirect_uri=redirect_uri(runtime.settings.base_url),
        project_key=request.query_params.get("projectKey", ""),
    )
    return HTMLResponse(
        body,
        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-store"},
    )


def _standalone(runtime: Runtime, request: Request, path: str, session: BrowserSession) -> Response:
    """The page in a normal browser tab: the same page, its API calls made with the session
    cookie and its CSRF token instead of Jira's context tokens."""
    if path not in PAGES:
        return HTMLResponse("no such page", status_code=404)
    body = render_page(
        path,
        ap_script=None,
        csrf=session.csrf(runtime),
        site=session.tenant.display_url,
        base_path=runtime.settings.base_path,
        project_key=request.query_params.get("projectKey", ""),
    )
    headers = {
        "Content-Security-Policy": _STANDALONE_CSP,
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(body, headers=headers)
