"""Pages Jira shows in iframes. Placeholders until the admin experience is built.

Jira loads each page with `?jwt=` whose qsh covers the page URL, so every page verifies it
before showing anything about the tenant.
"""

from __future__ import annotations

import html
import logging

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from connector import logs
from connector.connect.auth import AuthenticationError
from connector.connect.http import authenticate_request
from connector.runtime import Runtime

log = logging.getLogger(__name__)

# Atlassian's Connect JavaScript API (AP) must come from its CDN for the iframe bridge to work.
_AP_SCRIPT = "https://connect-cdn.atl-paas.net/all.js"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script src="{ap}" data-options="sizeToParent:true"></script></head>
<body><h1>{title}</h1><p>{body}</p></body></html>"""


async def page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        authenticated = authenticate_request(
            request, tenants=runtime.tenants, base_path=runtime.settings.base_path
        )
    except AuthenticationError as exc:
        logs.event(log, "admin.page_refused", logging.WARNING, path=request.url.path, reason=exc)
        return HTMLResponse(
            _PAGE.format(title="Not authorised", body=html.escape(str(exc)), ap=_AP_SCRIPT),
            status_code=401,
        )
    site = html.escape(authenticated.tenant.display_url)
    return HTMLResponse(
        _PAGE.format(
            title="Mail Connector",
            body=f"Installed on {site}. Mail sources are configured here.",
            ap=_AP_SCRIPT,
        )
    )
