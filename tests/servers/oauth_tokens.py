"""A token-info endpoint for Dovecot's oauth2 passdb, so XOAUTH2 logins are checked for real.

Dovecot appends the bearer token to `url` and expects JSON naming the user and saying whether
the token is active; anything else is a failed login. Tokens are issued and revoked by tests.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class TokenInfoServer:
    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        tokens = self._tokens

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                token = (query.get("access_token") or [""])[0]
                username = tokens.get(token)
                if username is None:
                    self._answer(401, {"error": "invalid_token"})
                else:
                    self._answer(200, {"active": "true", "username": username})

            def _answer(self, status: int, body: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the tokens would end up in the test output

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="oauth-tokeninfo", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """What Dovecot's `tokeninfo_url` is set to; the token is appended."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/tokeninfo?access_token="

    def issue(self, username: str) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = username
        return token

    def revoke(self, token: str) -> None:
        self._tokens.pop(token, None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
