"""Signing in to the admin pages outside Jira, for sites connected without an install.

Inside Jira, Jira vouches for the user (a Connect JWT, a Forge Invocation Token). A site
connected with a token has no such frame: `connector admin-link --site URL` prints a link
that whoever runs the connector's command line may open in a normal browser tab. The person
then acts in the admin pages as the site's account, and the administrator check asks Jira,
with the site's credentials, whether that account administers the site.

The link is signed (HMAC-SHA256 with a key derived from ENCRYPTION_KEY, so a link cannot be
made without it), bound to one tenant, valid for `LINK_LIFETIME` and good once (its hash is
stored and used up atomically). Opening it shows a button; only pressing it (a POST) uses the
link, so a chat program that fetches links to preview them cannot use one up or sign in.

The session is a random cookie value (HttpOnly, SameSite=Strict, Secure on https), stored
hashed, ending after `IDLE_TIMEOUT` without use or `MAX_LIFETIME` in all. Every
state-changing call carries a CSRF token derived from the cookie value (HMAC), sent by the
pages as a header that another site cannot set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

LINK_LIFETIME = timedelta(minutes=10)
IDLE_TIMEOUT = timedelta(minutes=30)
MAX_LIFETIME = timedelta(hours=12)
SIGNIN_PATH = "/site-signin"
SIGNOUT_PATH = "/site-signout"
COOKIE_NAME = "mail_connector_session"
CSRF_HEADER = "X-CSRF-Token"


class LinkError(Exception):
    """The link is malformed, forged, expired or for another site."""


def _keys(encryption_keys: Sequence[str]) -> list[bytes]:
    """Signing keys derived from ENCRYPTION_KEY (newest first); never the key itself."""
    return [
        hmac.new(key.encode("ascii"), b"mail-connector admin sign-in", hashlib.sha256).digest()
        for key in encryption_keys
    ]


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def hashed(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SignInLink:
    token: str
    expires_at: datetime


def make_link(
    encryption_keys: Sequence[str], tenant_id: int, *, now: float | None = None
) -> SignInLink:
    expires = int((now if now is not None else time.time()) + LINK_LIFETIME.total_seconds())
    body = f"{tenant_id}.{expires}.{secrets.token_urlsafe(24)}"
    token = f"{body}.{_mac(_keys(encryption_keys)[0], 'link:' + body)}"
    return SignInLink(token, datetime.fromtimestamp(expires, UTC))


def link_tenant(encryption_keys: Sequence[str], token: str, *, now: float | None = None) -> int:
    """The tenant a genuine, unexpired link is for; `LinkError` otherwise. Whether it was
    used already is the database's to say (`AdminSessions.use_link`)."""
    parts = token.split(".")
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
        raise LinkError("this is not a sign-in link")
    body, signature = ".".join(parts[:3]), parts[3]
    if not any(
        hmac.compare_digest(_mac(key, "link:" + body), signature) for key in _keys(encryption_keys)
    ):
        raise LinkError("this sign-in link is not genuine")
    if int(parts[1]) <= (now if now is not None else time.time()):
        raise LinkError("this sign-in link has expired: print a new one")
    return int(parts[0])


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(encryption_keys: Sequence[str], session_id: str) -> str:
    return _mac(_keys(encryption_keys)[0], "csrf:" + session_id)


def csrf_matches(encryption_keys: Sequence[str], session_id: str, sent: str) -> bool:
    return bool(sent) and any(
        hmac.compare_digest(_mac(key, "csrf:" + session_id), sent) for key in _keys(encryption_keys)
    )
