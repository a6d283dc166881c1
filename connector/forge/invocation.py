"""Forge Invocation Tokens (FIT): what every request from Forge to our remote carries.

Forge sends `Authorization: Bearer <FIT>` with each call to a Forge Remote endpoint
(developer.atlassian.com/platform/forge/remote/essentials/): an RS256 JWT signed with a key
from Atlassian's JWKS, `iss` = `forge/invocation-token`, `aud` = the app's id (its ARI),
`iat`/`nbf`/`exp`/`jti`, and an `app` object naming the installation (`app.installationId`)
and where to call the product (`app.apiBaseUrl`).

Pure: no web framework, no HTTP client. Fetching the keys is `connector.forge.jwks`'s job; a
key is looked up by the token's `kid` and handed in here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
from jwt.algorithms import RSAAlgorithm
from jwt.types import Options

ISSUER = "forge/invocation-token"
ALGORITHM = "RS256"
# Forge's tokens live seconds (25 s in Atlassian's example); a little leeway covers clock skew
# between Forge and this host without making an old token usable for long.
LEEWAY_SECONDS = 10
# Staging installations call the product at api.stg.atlassian.com and their tokens are signed
# with the staging keys (toolsplus/atlassian-connect-play does the same; Atlassian documents
# only the production JWKS).
STAGING_API_PREFIX = "https://api.stg.atlassian.com/"
# Key ids are opaque; anything else is refused before any lookup.
_KID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


class InvocationError(Exception):
    """A request from Forge that is refused. `status` is the HTTP answer: 401 only when the
    token does not verify (Forge reserves 401 for that), 503 when we cannot check it now."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Invocation:
    """What a verified token says about the call."""

    installation_id: str
    app_id: str
    api_base_url: str | None
    environment_type: str | None
    module_key: str | None
    claims: Mapping[str, Any]


@dataclass(frozen=True)
class TokenHeader:
    """What is read from a token before its signature is checked: which key, from which JWKS."""

    kid: str
    staging: bool


def token_from_bearer(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    if not header:
        raise InvocationError("missing Authorization header")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise InvocationError("Authorization must be 'Bearer <Forge invocation token>'")
    return token


def read_header(token: str) -> TokenHeader:
    """The key id, and whether the token names a staging installation. The algorithm is
    checked here, before any key is fetched: neither `none` nor HS256 keyed with a published
    RSA key gets further."""
    try:
        header = pyjwt.get_unverified_header(token)
        claims = pyjwt.decode(token, options={"verify_signature": False})
    except pyjwt.PyJWTError as exc:
        raise InvocationError(f"malformed token: {exc}") from None
    if header.get("alg") != ALGORITHM:
        raise InvocationError(
            f"algorithm {header.get('alg')!r} is not accepted; Forge invocation tokens are RS256"
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID_PATTERN.match(kid):
        raise InvocationError("token has no usable key id (kid)")
    app = claims.get("app") if isinstance(claims, dict) else None
    api_base_url = app.get("apiBaseUrl") if isinstance(app, dict) else None
    staging = isinstance(api_base_url, str) and api_base_url.startswith(STAGING_API_PREFIX)
    return TokenHeader(kid=kid, staging=staging)


def parse_jwks(document: Any) -> dict[str, Any]:
    """kid -> RSA public key, for each RS256 signing key of a JWKS document (RFC 7517).
    Keys of other types or uses are left out; a document with none is refused."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    keys: dict[str, Any] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not _KID_PATTERN.match(kid):
            continue
        try:
            keys[kid] = RSAAlgorithm.from_jwk(entry)
        except (pyjwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue
    if not keys:
        raise ValueError("the JWKS has no RS256 signing key")
    return keys


def verify_invocation_token(
    token: str,
    public_key: Any,
    *,
    app_id: str,
    leeway_seconds: int = LEEWAY_SECONDS,
) -> Invocation:
    """Verify a FIT against the key its `kid` names; return what it says."""
    read_header(token)  # the algorithm and kid, whatever the caller did before
    options: Options = {"require": ["iss", "aud", "iat", "nbf", "exp", "jti"]}
    try:
        claims: dict[str, Any] = pyjwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            audience=app_id,
            issuer=ISSUER,
            leeway=leeway_seconds,
            options=options,
        )
    except pyjwt.InvalidSignatureError:
        raise InvocationError("signature does not verify") from None
    except pyjwt.ExpiredSignatureError:
        raise InvocationError("token has expired") from None
    except pyjwt.ImmatureSignatureError:
        raise InvocationError("token is not valid yet (nbf or iat in the future)") from None
    except pyjwt.InvalidAudienceError:
        raise InvocationError("token audience is not this app (FORGE_APP_ID)") from None
    except pyjwt.InvalidIssuerError:
        raise InvocationError(f"token issuer is not {ISSUER}") from None
    except pyjwt.MissingRequiredClaimError as exc:
        raise InvocationError(f"token has no {exc.claim} claim") from None
    except pyjwt.PyJWTError as exc:
        raise InvocationError(f"invalid token: {exc}") from None
    return _invocation(claims, app_id)


def _invocation(claims: dict[str, Any], app_id: str) -> Invocation:
    app = claims.get("app")
    if not isinstance(app, dict):
        raise InvocationError("token has no app claim")
    installation_id = app.get("installationId")
    if not isinstance(installation_id, str) or not installation_id.strip():
        raise InvocationError("token names no installation (app.installationId)")
    if app.get("id", app_id) != app_id:
        raise InvocationError("token app.id is not this app (FORGE_APP_ID)")
    api_base_url = app.get("apiBaseUrl")
    environment = app.get("environment")
    module = app.get("module")
    return Invocation(
        installation_id=installation_id,
        app_id=app_id,
        api_base_url=api_base_url if isinstance(api_base_url, str) else None,
        environment_type=_text(environment, "type"),
        module_key=_text(module, "key"),
        claims=claims,
    )


def _text(value: Any, name: str) -> str | None:
    found = value.get(name) if isinstance(value, dict) else None
    return found if isinstance(found, str) else None
