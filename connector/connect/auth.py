"""Authenticate requests Jira (or a page inside Jira) sends us with a tenant JWT.

The tenant is found by the token's unverified `iss`, then the token is verified with that
tenant's shared secret (HS256 only), its `exp` with a small leeway, and its qsh against the
request actually received. Context tokens (`qsh = context-qsh`) are accepted only where the
caller says a context token is expected (the admin API called from `AP.context.getToken()`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from connector.connect.jwt import (
    JwtError,
    RequestTarget,
    read_unverified,
    token_from_authorization,
    verify_tenant_token,
)
from connector.tenant import Tenant


class TenantLookup(Protocol):
    def get(self, client_key: str) -> Tenant | None: ...


class AuthenticationError(Exception):
    """Refused: the message is safe to return to the caller (no secrets, no token)."""


@dataclass(frozen=True)
class AuthenticatedRequest:
    tenant: Tenant
    claims: dict[str, Any] = field(repr=False)

    @property
    def account_id(self) -> str | None:
        """The Jira user on whose behalf the page or API call was made, if any."""
        subject = self.claims.get("sub")
        return subject if isinstance(subject, str) else None

    @property
    def context(self) -> dict[str, Any]:
        context = self.claims.get("context")
        return context if isinstance(context, dict) else {}


def token_from_request(authorization: str | None, query_jwt: str | None) -> str:
    """Jira puts the token in `Authorization: JWT …` for calls and `?jwt=` for iframe pages."""
    if authorization:
        try:
            return token_from_authorization(authorization)
        except JwtError as exc:
            raise AuthenticationError(str(exc)) from exc
    if query_jwt:
        return query_jwt
    raise AuthenticationError("no JWT in the Authorization header or the jwt parameter")


def authenticate(
    token: str,
    *,
    target: RequestTarget,
    tenants: TenantLookup,
    allow_context_qsh: bool = False,
    require_active: bool = True,
) -> AuthenticatedRequest:
    try:
        _, unverified = read_unverified(token)
    except JwtError as exc:
        raise AuthenticationError(str(exc)) from exc
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise AuthenticationError("token has no issuer")
    tenant = tenants.get(issuer)
    # One answer for "unknown" and "uninstalled" so the response does not reveal which sites
    # have installed the app.
    if tenant is None or not tenant.installed:
        raise AuthenticationError("token issuer is not an installed Jira site")
    if require_active and not tenant.enabled:
        raise AuthenticationError("the app is disabled on this Jira site")
    if tenant.shared_secret is None:
        # Installed only through Forge: no Connect secret, so no Connect JWT can be its own.
        raise AuthenticationError("token issuer is not an installed Jira site")
    try:
        claims = verify_tenant_token(
            token,
            tenant.shared_secret,
            target=target,
            allow_context_qsh=allow_context_qsh,
        )
    except JwtError as exc:
        raise AuthenticationError(str(exc)) from exc
    return AuthenticatedRequest(tenant=tenant, claims=claims)
