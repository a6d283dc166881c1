"""The Forge routes: the manifest, and the Forge Remote endpoints Forge calls.

Thin, as the Connect lifecycle callbacks beside them: verify (`connector.forge`), then act.

`GET /forge/manifest.yml` serves the manifest rendered for this deployment
(`descriptor.manifest`). The endpoints are mounted at the paths the manifest declares; each
verifies the Forge Invocation Token from the headers before the body is read (capped like a
lifecycle callback), and answers 200 with a JSON body at once: Forge gives events and triggers
5 s, counts anything outside 2xx as a failure and names JSON as the response type
(developer.atlassian.com/platform/forge/remote/essentials/).

For now they record nothing: they log the installation the call is for. Storing installations
and the app system token (`x-forge-oauth-system`) is issue 14's next step. That token, like the
invocation token, is never logged.

Refusals answer JSON `{"error": reason}`: 401 only for a token that does not verify (Forge
reserves 401 for that), 503 when FORGE_APP_ID is not set or the keys cannot be fetched.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector import logs
from connector.forge.invocation import (
    Invocation,
    InvocationError,
    read_header,
    token_from_bearer,
    verify_invocation_token,
)
from connector.forge.jwks import ForgeKeyStore
from connector.http_body import LIFECYCLE_MAX_BYTES, BodyError, read_json_object
from connector.runtime import Runtime
from connector.settings import FORGE_APP_ID_MISSING
from descriptor.manifest import (
    INSTALLED_ENDPOINT,
    MANIFEST_PATH,
    REFRESH_ENDPOINT,
    forge_endpoint_paths,
    manifest_yaml,
)

log = logging.getLogger(__name__)
# RFC 9512 registers application/yaml.
YAML_MEDIA_TYPE = "application/yaml"


async def manifest(request: Request) -> Response:
    settings = _runtime(request).settings
    if settings.forge_app_id is None:
        return JSONResponse({"error": FORGE_APP_ID_MISSING}, status_code=503)
    text = manifest_yaml(
        base_url=settings.base_url, app_key=settings.app_key, forge_app_id=settings.forge_app_id
    )
    return Response(text, media_type=YAML_MEDIA_TYPE)


async def authenticate(
    authorization: str | None, *, app_id: str, keys: ForgeKeyStore
) -> Invocation:
    """Verify the request's Forge Invocation Token from its Authorization header."""
    token = token_from_bearer(authorization)
    header = read_header(token)
    public_key = await keys.public_key(header.kid, staging=header.staging)
    return verify_invocation_token(token, public_key, app_id=app_id)


Handler = Callable[[Invocation, dict[str, object]], None]


def forge_endpoint(name: str, handle: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        runtime = _runtime(request)
        app_id = runtime.settings.forge_app_id
        if app_id is None:
            return JSONResponse({"error": FORGE_APP_ID_MISSING}, status_code=503)
        try:
            invocation = await authenticate(
                request.headers.get("authorization"), app_id=app_id, keys=runtime.forge_keys
            )
            body = await read_json_object(request, limit=LIFECYCLE_MAX_BYTES)
        except InvocationError as exc:
            logs.event(
                log, "forge.refused", logging.WARNING, endpoint=name, status=exc.status, reason=exc
            )
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except BodyError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        handle(invocation, body)
        # The remote contract names JSON as the response type of every call.
        return JSONResponse({"status": "received"})

    endpoint.__name__ = f"forge_{name}"
    return endpoint


def _log_only(event: str) -> Handler:
    """For now a call is only logged with the installation it is for (issue 14 records the
    installation and its system token next)."""

    def handle(invocation: Invocation, body: dict[str, object]) -> None:
        logs.event(
            log,
            event,
            installation_id=invocation.installation_id,
            environment=invocation.environment_type,
            retry_count=_retry_count(body),
        )

    return handle


def _retry_count(body: dict[str, object]) -> int:
    # Forge retries a failed event up to 4 times and says so in `retryContext`.
    retry = body.get("retryContext")
    count = retry.get("retryCount") if isinstance(retry, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def forge_routes() -> list[Route]:
    paths = forge_endpoint_paths()
    return [
        Route(MANIFEST_PATH, manifest, methods=["GET"]),
        Route(
            paths[INSTALLED_ENDPOINT],
            forge_endpoint("installed", _log_only("forge.installed")),
            methods=["POST"],
        ),
        Route(
            paths[REFRESH_ENDPOINT],
            forge_endpoint("refresh", _log_only("forge.scheduled_refresh")),
            methods=["POST"],
        ),
    ]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
