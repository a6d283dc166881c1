"""Verify a request's Forge Invocation Token: key lookup plus `connector.forge.invocation`.

Shared by the Forge Remote endpoints (`webhooks.forge`) and the admin API, which a Forge UI
module's `invokeRemote` calls with a FIT as `Authorization: Bearer`.
"""

from __future__ import annotations

from connector.forge.invocation import (
    Invocation,
    read_header,
    token_from_bearer,
    verify_invocation_token,
)
from connector.forge.jwks import ForgeKeyStore


async def authenticate(
    authorization: str | None, *, app_id: str, keys: ForgeKeyStore
) -> Invocation:
    """Verify the request's Forge Invocation Token from its Authorization header."""
    token = token_from_bearer(authorization)
    header = read_header(token)
    public_key = await keys.public_key(header.kid, staging=header.staging)
    return verify_invocation_token(token, public_key, app_id=app_id)
