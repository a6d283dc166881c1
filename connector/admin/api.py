"""The admin JSON API under /api/v1 (authenticated with tenant JWTs, context tokens allowed)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connector.connect.auth import AuthenticatedRequest, AuthenticationError
from connector.connect.http import authenticate_request
from connector.runtime import Runtime


def authenticate_api(request: Request) -> AuthenticatedRequest:
    runtime: Runtime = request.app.state.runtime
    return authenticate_request(
        request,
        tenants=runtime.tenants,
        base_path=runtime.settings.base_path,
        allow_context_qsh=True,
    )


async def tenant_info(request: Request) -> Response:
    try:
        authenticated = authenticate_api(request)
    except AuthenticationError as exc:
        return JSONResponse({"error": str(exc)}, status_code=401)
    tenant = authenticated.tenant
    return JSONResponse(
        {
            "client_key": tenant.client_key,
            "base_url": tenant.base_url,
            "display_url": tenant.display_url,
            "product_type": tenant.product_type,
            "enabled": tenant.enabled,
        }
    )
