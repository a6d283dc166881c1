"""The authorization server: bearer tokens for Connect user impersonation, on loopback.

Mirrors `POST https://oauth-2-authorization-server.services.atlassian.com/oauth2/token` with
the JWT bearer grant (RFC 7523; "User impersonation for Connect apps"): the app sends an
HS256 assertion signed with a site's shared secret, naming itself by the install's
`oauthClientId` (`iss`), the user by account id (`sub`), the site by its baseUrl (`tnt`) and
this server (`aud`); the answer is an access token the site's REST API accepts as
`Authorization: Bearer`, acting as that user. Several fake sites may share one server, as all
Jira sites share Atlassian's.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import jwt as pyjwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import LoopbackServer

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_PREFIX = "urn:atlassian:connect:clientid:"
ACCOUNT_PREFIX = "urn:atlassian:connect:useraccountid:"
KNOWN_SCOPES = frozenset({"READ", "WRITE", "DELETE", "PROJECT_ADMIN", "ADMIN", "ACT_AS_USER"})
MAX_ASSERTION_SECONDS = 120  # Atlassian refuses assertions that live longer
LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class Grant:
    """An access token as the server issued it."""

    oauth_client_id: str
    account_id: str
    scopes: frozenset[str]
    expires_at: float  # monotonic


@dataclass(frozen=True)
class TokenRequest:
    """One request to the token endpoint, for tests to inspect."""

    oauth_client_id: str
    account_id: str
    scope: str
    status: int
    error: str = ""


@dataclass
class _Client:
    site_url: str
    shared_secret: Callable[[], str]  # read at each request: re-installs rotate it
    refused: dict[str | None, int] = field(default_factory=dict)  # account (None: all) -> status


class AuthorizationServer:
    """Serves `POST /oauth2/token`; sites register their installs with `register`."""

    def __init__(self, *, token_seconds: int = 900) -> None:
        self.token_seconds = token_seconds
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._grants: dict[str, Grant] = {}
        self._requests: list[TokenRequest] = []
        self._faults: list[tuple[int, dict[str, str]]] = []
        app = Starlette(routes=[Route("/oauth2/token", self._token, methods=["POST"])])
        self._server = LoopbackServer(app, name="fake-authorization-server")

    # --- running ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._server.base_url

    @property
    def running(self) -> bool:
        return self._server.running

    def start(self) -> None:
        self._server.start()

    def request_stop(self) -> None:
        self._server.request_stop()

    def stop(self) -> None:
        self._server.stop()

    # --- sites and tests ----------------------------------------------------------------------

    def register(
        self, oauth_client_id: str, site_url: str, shared_secret: Callable[[], str]
    ) -> None:
        with self._lock:
            self._clients[oauth_client_id] = _Client(site_url.rstrip("/"), shared_secret)

    def refuse(
        self, oauth_client_id: str, *, account_id: str | None = None, status: int = 401
    ) -> None:
        """Refuse tokens for one account, or (None) for every account of the install: what a
        site that has not consented to ACT_AS_USER does."""
        with self._lock:
            self._clients[oauth_client_id].refused[account_id] = status

    def allow(self, oauth_client_id: str) -> None:
        with self._lock:
            self._clients[oauth_client_id].refused.clear()

    def inject_fault(
        self, status: int, *, times: int = 1, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next `times` token requests with `status` (and `headers`, such as
        Retry-After or a redirect's Location) before looking at them."""
        with self._lock:
            self._faults += [(status, dict(headers or {}))] * times

    def grant_for(self, token: str) -> Grant | None:
        """The live grant behind an access token, or None."""
        with self._lock:
            grant = self._grants.get(token)
        if grant is None or grant.expires_at <= time.monotonic():
            return None
        return grant

    def revoke_all(self) -> None:
        """Forget every token issued (as when they expire), so sites answer 401 to them."""
        with self._lock:
            self._grants.clear()

    @property
    def token_requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._requests)

    # --- the endpoint -------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            status, headers = fault
            self._record("", "", {}, status, "injected")
            return _error(status, "temporarily_unavailable", "injected fault", headers)
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return _error(400, "invalid_request", "the body must be a form")
        form = (await request.body()).decode("utf-8", errors="replace")
        values = dict(parse_qsl(form, keep_blank_values=True))
        try:
            client_id, account_id, scopes = self._check(values)
        except _Refusal as refusal:
            self._record(
                refusal.client_id, refusal.account_id, values, refusal.status, refusal.error
            )
            return _error(refusal.status, refusal.error, refusal.description)
        token = secrets.token_urlsafe(32)
        grant = Grant(client_id, account_id, scopes, time.monotonic() + self.token_seconds)
        with self._lock:
            self._grants[token] = grant
        self._record(client_id, account_id, values, 200)
        answer = {"access_token": token, "expires_in": self.token_seconds, "token_type": "Bearer"}
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    def _check(self, values: dict[str, str]) -> tuple[str, str, frozenset[str]]:
        if values.get("grant_type") != GRANT_TYPE:
            raise _Refusal(400, "unsupported_grant_type", "only the JWT bearer grant is served")
        assertion = values.get("assertion", "")
        try:
            header = pyjwt.get_unverified_header(assertion)
            unverified = pyjwt.decode(assertion, options={"verify_signature": False})
        except pyjwt.PyJWTError:
            raise _Refusal(400, "invalid_request", "the assertion is not a JWT") from None
        issuer = str(unverified.get("iss") or "")
        if header.get("alg") != "HS256" or not issuer.startswith(CLIENT_PREFIX):
            raise _Refusal(401, "invalid_client", "the assertion does not name an app")
        client_id = issuer[len(CLIENT_PREFIX) :]
        with self._lock:
            client = self._clients.get(client_id)
        if client is None:
            raise _Refusal(401, "invalid_client", "unknown OAuth client id", client_id)
        claims = self._verified(assertion, client, client_id)
        subject = str(claims["sub"])
        if not subject.startswith(ACCOUNT_PREFIX) or len(subject) == len(ACCOUNT_PREFIX):
            raise _Refusal(400, "invalid_grant", "sub names no account id", client_id)
        account_id = subject[len(ACCOUNT_PREFIX) :]
        scopes = frozenset(values.get("scope", "").split())
        if not scopes <= KNOWN_SCOPES:
            unknown = sorted(scopes - KNOWN_SCOPES)
            raise _Refusal(400, "invalid_scope", f"unknown scopes {unknown}", client_id, account_id)
        with self._lock:
            status = client.refused.get(account_id, client.refused.get(None))
        if status is not None:
            raise _Refusal(
                status, "unauthorized_client", "impersonation not allowed", client_id, account_id
            )
        return client_id, account_id, scopes

    def _verified(self, assertion: str, client: _Client, client_id: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = pyjwt.decode(
                assertion,
                client.shared_secret(),
                algorithms=["HS256"],
                audience=self.url,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "sub", "tnt", "aud", "iat", "exp"]},
            )
        except pyjwt.PyJWTError as exc:
            raise _Refusal(400, "invalid_grant", f"assertion refused: {exc}", client_id) from None
        if claims["tnt"] != client.site_url:
            raise _Refusal(400, "invalid_grant", "tnt is not the site of this client", client_id)
        if int(claims["exp"]) - int(claims["iat"]) > MAX_ASSERTION_SECONDS:
            raise _Refusal(400, "invalid_grant", "the assertion lives too long", client_id)
        return claims

    def _record(
        self,
        client_id: str,
        account_id: str,
        values: dict[str, str],
        status: int,
        error: str = "",
    ) -> None:
        entry = TokenRequest(client_id, account_id, values.get("scope", ""), status, error)
        with self._lock:
            self._requests.append(entry)


class _Refusal(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        client_id: str = "",
        account_id: str = "",
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.client_id = client_id
        self.account_id = account_id


def _error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers=headers)
