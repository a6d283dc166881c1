"""Atlassian Connect JWT: query string hash, signing and verification.

Pure: no web framework, no HTTP client. The canonical request follows Atlassian's
"Understanding JWT for Connect apps" (developer.atlassian.com/cloud/jira/platform/
understanding-jwt-for-connect-apps/) and is checked against the 79 official signed-URL
vectors in `shared/specs/jwt-signed-urls.json`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from math import isfinite
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import jwt as pyjwt
from jwt.types import Options

# The fixed qsh value Atlassian puts in context tokens from `AP.context.getToken()`
# (apiMigrations "context-qsh"); such a token is valid only where a context token is expected.
CONTEXT_QSH = "context-qsh"

# Tenant tokens are HS256, always. Listing exactly one algorithm stops `none` and the RS/HS
# confusion attack (an RSA public key used as an HMAC secret).
TENANT_ALGORITHM = "HS256"
INSTALL_ALGORITHM = "RS256"

DEFAULT_LEEWAY_SECONDS = 30
DEFAULT_TOKEN_TTL_SECONDS = 180
# The longest lifetime (`exp - iat`) a token may claim. Atlassian's request and page tokens
# live 3 minutes (every one of its official signed-URL vectors has exp - iat = 180); context
# tokens from `AP.context.getToken()` live longer than page tokens (Atlassian's answer in
# community.developer.atlassian.com/t/refresh-jwt-within-atlassian-connect-app/71257), 15
# minutes as sites issue them. A token claiming more was not minted by Atlassian for one
# request: with a leaked shared secret it would be a standing credential, so it is refused.
# Together with "not issued in the future", this also bounds how far ahead `exp` may be.
MAX_TOKEN_LIFETIME_SECONDS = 15 * 60


class JwtError(Exception):
    """A token that cannot be trusted. The message says why, without the token itself."""


@dataclass(frozen=True)
class RequestTarget:
    """What a query string hash covers: the method, the path below the app's base and the query."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]


def _percent_encode(value: str) -> str:
    # RFC 3986 unreserved characters stay as they are; everything else, including `*` and
    # space, is percent-encoded in UTF-8 (Atlassian's canonicalisation rules).
    return quote(value, safe="-._~")


def canonical_path(path: str, base_path: str = "") -> str:
    """The path part of a canonical request: below the app's base path, `&` escaped."""
    if base_path:
        trimmed_base = base_path.rstrip("/")
        if trimmed_base and (path == trimmed_base or path.startswith(trimmed_base + "/")):
            path = path[len(trimmed_base) :]
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path.replace("&", "%26")


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """Sorted, encoded query without the `jwt` parameter; repeated values joined by commas.

    Repeated values are sorted by their decoded text before encoding (the "Multi-value II"
    vector depends on that).
    """
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        if name == "jwt":
            continue
        grouped.setdefault(_percent_encode(name), []).append(value)
    parts = []
    for encoded_name in sorted(grouped):
        values = ",".join(_percent_encode(v) for v in sorted(grouped[encoded_name]))
        parts.append(f"{encoded_name}={values}")
    return "&".join(parts)


def parse_query(query_string: str) -> tuple[tuple[str, str], ...]:
    """Decode a raw query string the way a servlet would (`+` is a space)."""
    return tuple(parse_qsl(query_string, keep_blank_values=True))


def request_target(method: str, url: str, base_path: str = "") -> RequestTarget:
    """Split an absolute or relative URL into what the query string hash covers."""
    parts = urlsplit(url)
    return RequestTarget(
        method=method.upper(),
        path=canonical_path(parts.path, base_path),
        query=parse_query(parts.query),
    )


def canonical_request(target: RequestTarget) -> str:
    return f"{target.method}&{target.path}&{canonical_query(target.query)}"


def query_string_hash(target: RequestTarget) -> str:
    return hashlib.sha256(canonical_request(target).encode("utf-8")).hexdigest()


def encode_token(
    *,
    issuer: str,
    shared_secret: str,
    target: RequestTarget | None,
    now: float | None = None,
    ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """An HS256 token for one request (or a context token when `target` is None)."""
    issued_at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "qsh": CONTEXT_QSH if target is None else query_string_hash(target),
    }
    if extra_claims:
        claims.update(extra_claims)
    return pyjwt.encode(claims, shared_secret, algorithm=TENANT_ALGORITHM)


def read_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims without checking the signature: only to find the issuer or key id."""
    try:
        header = pyjwt.get_unverified_header(token)
        claims = pyjwt.decode(token, options={"verify_signature": False})
    except pyjwt.PyJWTError as exc:
        raise JwtError(f"malformed token: {exc}") from exc
    if not isinstance(claims, dict):
        raise JwtError("malformed token: claims are not an object")
    return header, claims


def verify_tenant_token(
    token: str,
    shared_secret: str,
    *,
    target: RequestTarget | None,
    allow_context_qsh: bool = False,
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify an HS256 tenant token and its query string hash; return the claims.

    `target` is the request actually received. A token whose qsh is `context-qsh` is accepted
    only when `allow_context_qsh` is set (admin API calls from `AP.context.getToken()`).
    """
    claims = _decode(
        token,
        shared_secret,
        algorithm=TENANT_ALGORITHM,
        refusal="tenant tokens are HS256",
        leeway_seconds=leeway_seconds,
        now=now,
        audience=None,
    )
    _check_tenant_audience(claims)
    check_query_string_hash(claims, target, allow_context_qsh=allow_context_qsh)
    return claims


def _check_tenant_audience(claims: Mapping[str, Any]) -> None:
    # Jira's own request tokens carry no `aud`; Atlassian's Python package (atlassian-jwt) puts
    # the site's client key there, which is also the issuer. The shared secret belongs to one
    # site and this app, so a token naming that site is one of ours; a token naming anyone else
    # was minted for another audience and is refused.
    if "aud" not in claims:
        return
    audience = claims["aud"]
    named = [audience] if isinstance(audience, str) else audience
    if not isinstance(named, list) or claims.get("iss") not in named:
        raise JwtError("token audience is not this site")


def verify_install_token(
    token: str,
    public_key_pem: str,
    *,
    audience: str,
    target: RequestTarget,
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify an RS256 signed-install token (apiMigrations "signed-install")."""
    claims = _decode(
        token,
        public_key_pem,
        algorithm=INSTALL_ALGORITHM,
        refusal="installs are RS256",
        leeway_seconds=leeway_seconds,
        now=now,
        audience=audience,
    )
    check_query_string_hash(claims, target, allow_context_qsh=False)
    return claims


def token_from_authorization(header: str | None) -> str:
    """The token of an `Authorization: JWT <token>` header, as Connect sends it."""
    if not header:
        raise JwtError("missing Authorization header")
    scheme, _, token = header.partition(" ")
    if scheme.upper() != "JWT" or not token.strip():
        raise JwtError("Authorization must be 'JWT <token>'")
    return token.strip()


def check_query_string_hash(
    claims: Mapping[str, Any], target: RequestTarget | None, *, allow_context_qsh: bool
) -> None:
    qsh = claims.get("qsh")
    if not isinstance(qsh, str):
        raise JwtError("token has no qsh claim")
    if qsh == CONTEXT_QSH:
        if allow_context_qsh:
            return
        raise JwtError("a context token is not accepted here")
    if target is None:
        raise JwtError("a request token is not accepted where a context token is expected")
    if qsh != query_string_hash(target):
        raise JwtError("qsh does not match the request")


def _decode(
    token: str,
    key: str,
    *,
    algorithm: str,
    refusal: str,
    leeway_seconds: int,
    now: float | None,
    audience: str | None,
) -> dict[str, Any]:
    # The header's algorithm is checked before any key is used, so neither `none` nor an HMAC
    # keyed with a published RSA key can get through.
    header, _ = read_unverified(token)
    if header.get("alg") != algorithm:
        raise JwtError(f"algorithm {header.get('alg')!r} is not accepted; {refusal}")
    # `exp` and `iat` are checked below, together with the lifetime, against `now` (the clock
    # unless a caller such as the vectors' test gives one).
    # A tenant token's `aud` is checked by `_check_tenant_audience`, not by PyJWT (which refuses
    # any `aud` when no audience is given).
    options: Options = {
        "require": ["iss", "exp", "iat", "qsh"],
        "verify_exp": False,
        "verify_iat": False,
        "verify_aud": audience is not None,
    }
    try:
        claims: dict[str, Any] = pyjwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            leeway=leeway_seconds,
            options=options,
        )
    except pyjwt.InvalidAudienceError as exc:
        raise JwtError("token audience is not this app") from exc
    except pyjwt.InvalidSignatureError as exc:
        raise JwtError("signature does not verify") from exc
    except pyjwt.PyJWTError as exc:
        raise JwtError(f"invalid token: {exc}") from exc
    _check_lifetime(claims, now=time.time() if now is None else now, leeway=leeway_seconds)
    return claims


def _check_lifetime(claims: Mapping[str, Any], *, now: float, leeway: int) -> None:
    issued_at, expires_at = claims["iat"], claims["exp"]
    for value in (issued_at, expires_at):
        # JSON as Python reads it allows NaN and Infinity, which no comparison would refuse.
        if isinstance(value, bool) or not isinstance(value, int | float) or not isfinite(value):
            raise JwtError("token iat and exp must be numbers (seconds since the epoch)")
    if expires_at + leeway < now:
        raise JwtError("token has expired")
    if issued_at > now + leeway:
        raise JwtError("token is issued in the future")
    lifetime = expires_at - issued_at
    if lifetime > MAX_TOKEN_LIFETIME_SECONDS:
        raise JwtError(
            f"token lifetime of {lifetime} s is over the {MAX_TOKEN_LIFETIME_SECONDS} s a Jira "
            "token may have"
        )
