"""Starlette glue: turn an incoming request into what the JWT checks need."""

from __future__ import annotations

from starlette.requests import Request

from connector.connect.auth import (
    AuthenticatedRequest,
    TenantLookup,
    authenticate,
    token_from_request,
)
from connector.connect.jwt import RequestTarget, canonical_path, parse_query


def request_target(request: Request, base_path: str) -> RequestTarget:
    """The request as Jira signed it: method, path below BASE_URL, decoded query."""
    return RequestTarget(
        method=request.method.upper(),
        path=canonical_path(request.url.path, base_path),
        query=parse_query(request.url.query),
    )


def authenticate_request(
    request: Request,
    *,
    tenants: TenantLookup,
    base_path: str,
    allow_context_qsh: bool = False,
) -> AuthenticatedRequest:
    token = token_from_request(
        request.headers.get("authorization"), request.query_params.get("jwt")
    )
    return authenticate(
        token,
        target=request_target(request, base_path),
        tenants=tenants,
        allow_context_qsh=allow_context_qsh,
    )
