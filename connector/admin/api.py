"""The admin JSON API under /api/v1: its routes, and the one call that needs no administrator.

Everything else is a handler of `connector.admin.endpoint.admin_endpoint`: Connect JWT (context
tokens allowed), then a Jira administrator of that tenant, then the handler (DESIGN.md "HTTP").
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from connector.admin import (
    email_log_api,
    jira_api,
    oauth_api,
    outbound_api,
    routing_api,
    settings_api,
    source_actions,
    sources_api,
    workaround_api,
)
from connector.admin.access import authenticate_caller
from connector.admin.endpoint import Handler, admin_endpoint
from connector.admin.errors import ApiError
from connector.admin.openapi import openapi_json

PREFIX = "/api/v1"
_SOURCE = PREFIX + "/mail-sources/{source_id:int}"
_ENTRY = PREFIX + "/email-log/{entry_id:int}"
_FIELDS = PREFIX + "/settings/fields"
_WORKAROUND = PREFIX + "/settings/workaround-user"


async def tenant_info(request: Request) -> Response:
    """The site the token belongs to: any valid token of the site may ask (pages use it to
    show where they are before anything else)."""
    try:
        tenant = (await authenticate_caller(request)).tenant
    except ApiError as exc:
        return exc.to_response()
    return JSONResponse(
        {
            "client_key": tenant.client_key,
            "base_url": tenant.base_url,
            "display_url": tenant.display_url,
            "product_type": tenant.product_type,
            "enabled": tenant.enabled,
        }
    )


async def http_error(request: Request, exc: Exception) -> Response:
    """The router's own refusals (no such path, method not allowed) in the API's error shape.

    A path such as `/mail-sources/-1` matches no route (ids are `:int`, digits only), so the
    router answers before any handler; under /api/v1 that answer is JSON like every other
    refusal, so clients parse one format. Elsewhere Starlette's plain-text answer stays.
    """
    if not isinstance(exc, HTTPException):
        raise exc
    headers = dict(exc.headers or {})
    if not request.url.path.startswith(PREFIX + "/"):
        if exc.status_code in {204, 304}:  # as Starlette's own handler: no body allowed
            return Response(status_code=exc.status_code, headers=headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=headers)
    message = {
        404: "no such API path or item; the paths are in /api/v1/openapi.json",
        405: f"{request.method} is not allowed on this path",
    }.get(exc.status_code, str(exc.detail))
    response = ApiError(exc.status_code, message).to_response()
    response.headers.update(headers)  # e.g. 405's Allow
    return response


def api_routes() -> list[Route]:
    def admin(path: str, handler: Handler, method: str) -> Route:
        return Route(path, admin_endpoint(handler), methods=[method])

    return [
        Route(PREFIX + "/openapi.json", openapi_json, methods=["GET"]),
        Route(PREFIX + "/tenant", tenant_info, methods=["GET"]),
        admin(PREFIX + "/mail-sources", sources_api.list_sources, "GET"),
        admin(PREFIX + "/mail-sources", sources_api.create_source, "POST"),
        # Before the {source_id} routes, though `:int` would not match "test" anyway.
        admin(PREFIX + "/mail-sources/test", source_actions.diagnose_unsaved, "POST"),
        admin(_SOURCE, sources_api.get_source, "GET"),
        admin(_SOURCE, sources_api.update_source, "PUT"),
        admin(_SOURCE, sources_api.delete_source, "DELETE"),
        admin(_SOURCE + "/test", source_actions.diagnose_saved, "POST"),
        admin(_SOURCE + "/enable", source_actions.enable_source, "POST"),
        admin(_SOURCE + "/disable", source_actions.disable_source, "POST"),
        admin(_SOURCE + "/poll", source_actions.poll_now, "POST"),
        admin(_SOURCE + "/poll", source_actions.poll_status, "GET"),
        admin(_SOURCE + "/route-check", routing_api.route_check, "POST"),
        admin(_SOURCE + "/oauth/start", oauth_api.start_oauth, "POST"),
        # The browser back from Google or Microsoft: no JWT, the single-use `state` is the key.
        Route(oauth_api.CALLBACK_PATH, oauth_api.oauth_callback, methods=["GET"]),
        admin(PREFIX + "/email-log", email_log_api.list_entries, "GET"),
        admin(PREFIX + "/email-log/retry", email_log_api.retry_entries, "POST"),
        admin(_ENTRY, email_log_api.get_entry, "GET"),
        admin(_ENTRY + "/retry", email_log_api.retry_entry, "POST"),
        admin(_ENTRY + "/message", email_log_api.download_message, "GET"),
        admin(_ENTRY + "/process-anyway", email_log_api.process_entry_anyway, "POST"),
        # Project administrators see their project's tab too (not only Jira administrators).
        Route(
            PREFIX + "/projects/{project_key}/feeds",
            admin_endpoint(routing_api.project_feeds, project_admins=True),
            methods=["GET"],
        ),
        admin(PREFIX + "/jira/projects", jira_api.list_projects, "GET"),
        admin(PREFIX + "/jira/users", jira_api.search_users, "GET"),
        admin(
            PREFIX + "/jira/projects/{project_key}/issue-types", jira_api.list_issue_types, "GET"
        ),
        admin(_FIELDS, settings_api.get_fields, "GET"),
        admin(_FIELDS, settings_api.put_fields, "PUT"),
        admin(_FIELDS + "/create", settings_api.create_field, "POST"),
        admin(_WORKAROUND, workaround_api.get_workaround_user, "GET"),
        admin(_WORKAROUND, workaround_api.put_workaround_user, "PUT"),
        admin(_WORKAROUND, workaround_api.delete_workaround_user, "DELETE"),
        admin(_WORKAROUND + "/test", workaround_api.try_workaround_user, "POST"),
        *_outbound_routes(admin),
    ]


def _outbound_routes(admin: Callable[[str, Handler, str], Route]) -> list[Route]:
    """Outbound mail: the connection, notification settings and the two audit lists."""
    connection = PREFIX + "/outbound-connection"
    settings = PREFIX + "/notification-settings"
    return [
        admin(connection, outbound_api.get_connection, "GET"),
        admin(connection, outbound_api.put_connection, "PUT"),
        admin(connection + "/test", outbound_api.try_connection, "POST"),
        admin(settings, outbound_api.get_notifications, "GET"),
        admin(settings, outbound_api.put_notifications, "PUT"),
        admin(PREFIX + "/webhook-events", outbound_api.list_webhook_events, "GET"),
        admin(PREFIX + "/outbound-messages", outbound_api.list_messages, "GET"),
        admin(
            PREFIX + "/outbound-messages/{message_id:int}/retry",
            outbound_api.retry_message,
            "POST",
        ),
    ]
