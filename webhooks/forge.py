"""The Forge routes: the manifest, and the Forge Remote endpoints Forge calls.

Thin, as the Connect lifecycle callbacks beside them: verify (`connector.forge`), then act.

`GET /forge/manifest.yml` serves the manifest rendered for this deployment
(`descriptor.manifest`). The endpoints are mounted at the paths the manifest declares; each
verifies the Forge Invocation Token from the headers before the body is read (capped like a
lifecycle callback), records the installation the token names and the app system token
(`x-forge-oauth-system`) it brings, and answers 200 with a JSON body. Recording is an upsert
of one row, so a retry (Forge retries a failed or slow event 4 times, 60 s apart, and says so
in `retryContext`) changes nothing but the token; the write runs in a worker thread and
nothing slower follows it, well inside Forge's 5 s (developer.atlassian.com/platform/forge/
remote/essentials/). No answer is ever a redirect: Forge counts 3xx as a failure.

The installed event (`avi:forge:installed:app`) and the hourly scheduled trigger do the same:
either may be the first we hear of an installation, and each brings a fresh system token.
Neither token is ever logged.

Refusals answer JSON `{"error": reason}`: 401 only for a token that does not verify (Forge
reserves 401 for that), 503 when FORGE_APP_ID is not set or the keys cannot be fetched.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector import logs
from connector.forge.auth import authenticate
from connector.forge.invocation import Invocation, InvocationError
from connector.forge.system_token import SYSTEM_AUTH_HEADER, token_expiry, usable_token
from connector.http_body import LIFECYCLE_MAX_BYTES, BodyError, read_json_object
from connector.runtime import Runtime
from connector.settings import FORGE_APP_ID_MISSING
from connector.storage.forge_installations import InstallationEvent
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
SITE_ARI_PREFIX = "ari:cloud:jira::site/"
MAX_CLOUD_ID_CHARS = 64


async def manifest(request: Request) -> Response:
    settings = _runtime(request).settings
    if settings.forge_app_id is None:
        return JSONResponse({"error": FORGE_APP_ID_MISSING}, status_code=503)
    text = manifest_yaml(
        base_url=settings.base_url, app_key=settings.app_key, forge_app_id=settings.forge_app_id
    )
    return Response(text, media_type=YAML_MEDIA_TYPE)


Handler = Callable[[Runtime, Invocation, dict[str, object], str | None], str]


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
        system_token = usable_token(request.headers.get(SYSTEM_AUTH_HEADER))
        status = await run_in_threadpool(handle, runtime, invocation, body, system_token)
        # The remote contract names JSON as the response type of every call.
        return JSONResponse({"status": status})

    endpoint.__name__ = f"forge_{name}"
    return endpoint


def _recorder(event: str) -> Handler:
    """Record the installation the token names, and the system token the call brings."""

    def handle(
        runtime: Runtime, invocation: Invocation, body: dict[str, object], system_token: str | None
    ) -> str:
        installation_id = invocation.installation_id
        retry_count = _retry_count(body)
        if invocation.api_base_url is None:
            # Nothing to reach Jira with; a retry would bring the same token, so no error.
            logs.event(
                log,
                event,
                logging.WARNING,
                installation_id=installation_id,
                retry_count=retry_count,
                outcome="no_api_base_url",
            )
            return "ignored"
        tenant_id, created = runtime.forge_installations.record(
            InstallationEvent(
                installation_id=invocation.installation_id,
                api_base_url=invocation.api_base_url,
                cloud_id=_cloud_id(body, invocation.api_base_url),
                environment_type=invocation.environment_type,
            )
        )
        if system_token is not None:
            runtime.forge_installations.save_system_token(
                invocation.installation_id, system_token, token_expiry(system_token)
            )
        logs.event(
            log,
            event,
            tenant_id=tenant_id,
            outcome="created" if created else "updated",
            installation_id=installation_id,
            environment=invocation.environment_type,
            retry_count=retry_count,
            system_token=system_token is not None,
        )
        return "received"

    return handle


def _cloud_id(body: dict[str, object], api_base_url: str) -> str | None:
    """The site's cloudId: the event's `context` (`ari:cloud:jira::site/<cloudId>`), else the
    last segment of `app.apiBaseUrl` (`.../ex/jira/<cloudId>`)."""
    context = body.get("context")
    if isinstance(context, str) and context.startswith(SITE_ARI_PREFIX):
        found = context[len(SITE_ARI_PREFIX) :]
    else:
        found = api_base_url.rstrip("/").rsplit("/", 1)[-1]
    return found if 0 < len(found) <= MAX_CLOUD_ID_CHARS else None


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
            forge_endpoint("installed", _recorder("forge.installed")),
            methods=["POST"],
        ),
        Route(
            paths[REFRESH_ENDPOINT],
            forge_endpoint("refresh", _recorder("forge.scheduled_refresh")),
            methods=["POST"],
        ),
    ]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
