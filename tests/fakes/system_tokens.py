"""Forge app system tokens as the fake Jira hands them out and checks them.

Atlassian's gateway (`https://api.atlassian.com/ex/jira/{cloudId}/rest/api/3/...`) takes the
token Forge sends a remote in `x-forge-oauth-system` as `Authorization: Bearer`. The tokens
are JWTs whose `exp` says when they stop working; to the app they are opaque otherwise, so
here they are signed with a key only this fake knows.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid

import jwt as pyjwt


class SystemTokens:
    """Tokens issued for one site's installation; a token is good until its `exp`."""

    def __init__(self, cloud_id: str) -> None:
        self.cloud_id = cloud_id
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._issued: set[str] = set()

    def issue(self, *, lifetime_seconds: int = 3600) -> str:
        now = int(time.time())
        claims = {"sub": "app-system", "iat": now, "exp": now + lifetime_seconds}
        token = pyjwt.encode({**claims, "jti": uuid.uuid4().hex}, self._key, algorithm="HS256")
        with self._lock:
            self._issued.add(token)
        return token

    def error(self, token: str) -> str | None:
        """Why the gateway refuses `token`, or None when it is good."""
        with self._lock:
            issued = token in self._issued
        if not issued:
            return "the system token was not issued for this installation"
        try:
            pyjwt.decode(token, self._key, algorithms=["HS256"])
        except pyjwt.ExpiredSignatureError:
            return "the system token has expired"
        except pyjwt.PyJWTError as exc:
            return f"the system token is not valid: {exc}"
        return None
