"""Connect lifecycle callbacks: installed, uninstalled, enabled, disabled.

Thin: verify the signed-install token against the body, then call the tenant repository.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connector import logs
from connector.connect.http import request_target
from connector.connect.install import (
    InstallError,
    parse_install_payload,
    verify_lifecycle_request,
)
from connector.runtime import Runtime

log = logging.getLogger(__name__)
LIFECYCLE_EVENTS = ("installed", "uninstalled", "enabled", "disabled")


def lifecycle_endpoint(event: str) -> Any:
    if event not in LIFECYCLE_EVENTS:
        raise ValueError(f"unknown lifecycle event {event!r}")

    async def endpoint(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        try:
            body = await _json_object(request)
            await verify_lifecycle_request(
                authorization=request.headers.get("authorization"),
                target=request_target(request, runtime.settings.base_path),
                body=body,
                audience=runtime.settings.base_url,
                keys=runtime.install_keys,
            )
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
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InstallError("lifecycle body is not JSON", status=400) from None
    if not isinstance(body, dict):
        raise InstallError("lifecycle body is not a JSON object", status=400)
    return body
