"""The app system token Forge hands over in `x-forge-oauth-system`, and when it expires.

Forge calls a remote endpoint whose `auth.appSystemToken` is enabled with a token the app may
use as `Authorization: Bearer` against `{app.apiBaseUrl}/rest/api/3/...`
(developer.atlassian.com/platform/forge/remote/essentials/). Tokens are opaque to us except
for their expiry: they are JWTs and `exp` says when (developer.atlassian.com/platform/forge/
remote/calling-product-apis/). Nothing else is read from them and nothing is verified: the
token is Atlassian's to check, and where it came from was proven by the invocation token.

Pure: no web framework, no storage.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt as pyjwt

SYSTEM_AUTH_HEADER = "x-forge-oauth-system"
# When a token's expiry cannot be read, assume less than any lifetime Atlassian has documented
# (at least 55 minutes, up to 4 hours for scheduled triggers): the hourly trigger brings the
# next one before we would count on this one for too long.
FALLBACK_LIFETIME = timedelta(minutes=30)
# Scheduled-trigger system tokens live at most 4 hours; a longer claim is not believed.
MAX_LIFETIME = timedelta(hours=4)
MAX_TOKEN_CHARS = 16 * 1024


def token_expiry(token: str, *, now: datetime | None = None) -> datetime:
    """When the token stops working: its `exp`, within Forge's limits, or a cautious guess."""
    now = now or datetime.now(UTC)
    try:
        claims = pyjwt.decode(token, options={"verify_signature": False})
    except pyjwt.PyJWTError:
        return now + FALLBACK_LIFETIME
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return now + FALLBACK_LIFETIME
    try:
        expires = datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return now + FALLBACK_LIFETIME
    return min(expires, now + MAX_LIFETIME)


def usable_token(value: str | None) -> str | None:
    """The header's token when it looks like one (visible ASCII, bounded), else None."""
    if value is None:
        return None
    token = value.strip()
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    if not all("\x21" <= ch <= "\x7e" for ch in token):
        return None
    return token
