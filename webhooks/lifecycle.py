"""Connect lifecycle callbacks: installed, uninstalled, enabled, disabled.

Thin: verify the signed-install token from the headers, only then read the body (capped) and
check the token is the body's site, then call the tenant repository.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connector import logs
from connector.connect.http import request_target
from connector.connect.install import (
    InstallError,
    check_client_key,
    parse_install_payload,
    verify_lifecycle_token,
)
from connector.http_body import LIFECYCLE_MAX_BYTES, BodyError, read_json_object
from connector.runtime import Runtime

log = logging.getLogger(__name__)
LIFECYCLE_EVENTS = ("installed", "uninstalled", "enabled", "disabled")


def lifecycle_endpoint(event: str) -> Any:
    if event not in LIFECYCLE_EVENTS:
        raise ValueError(f"unknown lifecycle event {event!r}")

    async def endpoint(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        try:
            claims = await verify_lifecycle_token(
                authorization=request.headers.get("authorization"),
                target=request_target(request, runtime.settings.base_path),
                audience=runtime.settings.base_url,
                keys=runtime.install_keys,
            )
            body = await _json_object(request)
            check_client_key(claims, body)
            return _apply(runtime, event, body)
        except InstallError as exc:
            logs.event(
                log,
                "connect.lifecycle_refused",
                logging.WARNING,
                lifecycle=event,
                status=exc.status,
                reason=str(exc),
            )
            return JSONResponse({"error": str(exc)}, status_code=exc.status)

    endpoint.__name__ = f"lifecycle_{event}"
    return endpoint


def _apply(runtime: Runtime, event: str, body: dict[str, Any]) -> Response:
    client_key = str(body["clientKey"])
    if event == "installed":
        payload = parse_install_payload(
            body, app_key=runtime.settings.app_key, production=runtime.settings.is_production
        )
        _, created = runtime.tenants.save_install(payload)
        logs.event(
            log,
            "connect.installed",
            client_key=client_key,
            outcome="created" if created else "reinstalled",
        )
        return Response(status_code=204)
    if event == "uninstalled":
        tenant = runtime.tenants.mark_uninstalled(client_key)
    else:
        tenant = runtime.tenants.set_enabled(client_key, event == "enabled")
    if tenant is None:
        # Nothing to change; Jira only needs to know we heard it.
        logs.event(log, f"connect.{event}", client_key=client_key, outcome="unknown_tenant")
        return Response(status_code=204)
    logs.event(log, f"connect.{event}", client_key=client_key, outcome="ok")
    return Response(status_code=204)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        return await read_json_object(request, limit=LIFECYCLE_MAX_BYTES)
    except BodyError as exc:
        raise InstallError(f"lifecycle body refused: {exc.message}", status=exc.status) from None
