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
    """The request as Jira signed it: method, path below BASE_URL, decoded query.

    Read from the ASGI scope, not `request.url`: Starlette rebuilds the URL from the decoded
    path and re-parses it, so a path segment holding an encoded `?` or `#` (`%3F`, `%23`) would
    lose the rest of the path to the query or fragment, and a correctly signed token fail qsh.
    """
    query_string = request.scope.get("query_string", b"")
    return RequestTarget(
        method=request.method.upper(),
        path=canonical_path(request.scope["path"], base_path),  # `request.url.path` before re-parse
        query=parse_query(query_string.decode("utf-8", "replace")),
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
