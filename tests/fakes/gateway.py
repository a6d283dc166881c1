"""The fake Jira's HTTP front: authentication, fault injection, body validation, dispatch.

Every request is checked the way Jira Cloud checks an app's calls before a resource handler
in `rest.py` sees it, and is recorded for the test to inspect.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from connector.connect.jwt import JwtError, request_target, verify_tenant_token
from tests.fakes import catalogue as cat
from tests.fakes import rest
from tests.fakes.authorization import AuthorizationServer
from tests.fakes.openapi import adf_schema, jira_openapi, jsm_openapi
from tests.fakes.rate_limits import RateLimits
from tests.fakes.routing import SERVICE_DESK_API
from tests.fakes.site import JiraError, JiraSite
from tests.fakes.system_tokens import SystemTokens

_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


@dataclass
class Tenant:
    """The installed app as Jira knows it; mutable because re-installs rotate the secret."""

    app_key: str
    client_key: str
    shared_secret: str
    app_account_id: str
    # What the site's installs name the app with when it asks to act as a user.
    oauth_client_id: str = ""
    uninstalled: bool = False


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    auth: str  # "jwt", "basic", "bearer", "system" (through the gateway URL) or "none"
    status: int
    caller_id: str = ""  # the app's account, the API-token user's, or the impersonated user's


@dataclass(frozen=True)
class ValidationFailure:
    kind: str  # "json", "openapi" or "adf"
    method: str
    path: str
    messages: tuple[str, ...]


@dataclass
class Fault:
    status: int
    times: int
    retry_after: str | None = None
    method: str | None = None
    path_contains: str | None = None
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path_contains is None or self.path_contains in path
        )


@dataclass(frozen=True)
class _Auth:
    kind: str
    caller_id: str
    error: str | None = None
    status: int = 401  # the answer when `error` is set


@dataclass
class JiraGateway:
    site: JiraSite
    tenant: Tenant
    lock: threading.RLock
    authorization: AuthorizationServer
    api_tokens: dict[str, str] = field(default_factory=dict)
    requests_log: list[LoggedRequest] = field(default_factory=list)
    validation_failures: list[ValidationFailure] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    # Atlassian's rate limits, when a test asks the fake to play them (tests.fakes.rate_limits).
    limits: RateLimits | None = None
    in_flight: int = 0
    peak_in_flight: int = 0
    # Forge: the site answers `/ex/jira/{cloudId}/...` as Atlassian's API gateway does, for
    # the app system tokens issued here only.
    system_tokens: SystemTokens = field(default_factory=lambda: SystemTokens(str(uuid.uuid4())))

    def asgi_app(self) -> Starlette:
        return Starlette(routes=[StarletteRoute("/{path:path}", self._endpoint, methods=_METHODS)])

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def _take_faults(self, method: str, path: str) -> tuple[Fault | None, float]:
        status_fault: Fault | None = None
        delay = 0.0
        with self.lock:
            for fault in self.faults:
                if fault.times <= 0 or not fault.matches(method, path):
                    continue
                if fault.delay and not delay:
                    delay = fault.delay
                    fault.times -= 1
                elif not fault.delay and status_fault is None:
                    status_fault = fault
                    fault.times -= 1
            self.faults = [fault for fault in self.faults if fault.times > 0]
        return status_fault, delay

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        gateway_prefix = f"/ex/jira/{self.system_tokens.cloud_id}"
        if path.startswith(gateway_prefix + "/"):
            path = path[len(gateway_prefix) :]
            auth = self._system(request)
        else:
            auth = self._authenticate(request)
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            response = await self._limited_answer(request, body, auth, path)
        finally:
            with self.lock:
                self.in_flight -= 1
        entry = LoggedRequest(
            request.method,
            path,
            request.url.query,
            auth.kind,
            response.status_code,
            auth.caller_id,
        )
        with self.lock:
            self.requests_log.append(entry)
        return response

    async def _limited_answer(
        self, request: Request, body: bytes, auth: _Auth, path: str
    ) -> Response:
        """The answer, or the 429 of a rate limit being played, with the limits' headers."""
        if self.limits is None or auth.error is not None:
            return await self._answer(request, body, auth, path)
        limited = self.limits.check(request.method, path)
        if limited.status:
            error = {"errorMessages": ["Rate limit exceeded."], "errors": {}}
            return JSONResponse(error, status_code=limited.status, headers=limited.headers)
        response = await self._answer(request, body, auth, path)
        response.headers.update(limited.headers)
        return response

    async def _answer(self, request: Request, body: bytes, auth: _Auth, path: str) -> Response:
        method = request.method
        if auth.error is not None:
            return JSONResponse({"errorMessages": [auth.error]}, status_code=auth.status)
        fault, delay = self._take_faults(method, path)
        deadline = time.monotonic() + delay
        # Short naps so that stopping the fake is not held up by a parked request.
        while time.monotonic() < deadline and not self.stopping.is_set():
            await asyncio.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
        if fault is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            error = {"errorMessages": [f"Injected fault: HTTP {fault.status}"], "errors": {}}
            return JSONResponse(error, status_code=fault.status, headers=headers)
        found = rest.match_route(method, path)
        if found is None:
            return self._unknown_resource(method, path, str(request.base_url).rstrip("/"))
        route, params = found
        parsed: Any = None
        if route.body == "json":
            parsed, problem = self._checked_json(request, route.template, body)
            if problem is not None:
                return problem
        call = rest.Call(
            params=params,
            query={k: request.query_params.getlist(k) for k in request.query_params},
            json=parsed,
            body=body,
            headers={k.lower(): v for k, v in request.headers.items()},
            caller_id=auth.caller_id,
        )
        with self.lock:
            try:
                reply = route.handler(self.site, call)
            except JiraError as exc:
                return JSONResponse(exc.body(), status_code=exc.status)
        headers = dict(reply.headers)
        if reply.content is not None:
            return Response(reply.content, reply.status, headers, reply.media_type)
        if reply.body is None:
            return Response(status_code=reply.status, headers=headers)
        return JSONResponse(reply.body, reply.status, headers)

    @staticmethod
    def _unknown_resource(method: str, path: str, base_url: str) -> Response:
        template = jira_openapi().match_template(path)
        if template is not None and jira_openapi().operation(template, method) is not None:
            # Real Jira has this resource; 501 makes the gap in the fake obvious.
            message = f"fake Jira does not implement {method} {template}"
            return JSONResponse({"errorMessages": [message], "errors": {}}, status_code=501)
        message = f"null for uri: {base_url}{path}"
        return JSONResponse({"message": message, "status-code": 404}, status_code=404)

    # --- authentication -----------------------------------------------------------------------

    def _authenticate(self, request: Request) -> _Auth:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "jwt":
            error = self._jwt_error(request, credentials.strip())
            return _Auth("jwt", self.tenant.app_account_id, error)
        if scheme.lower() == "basic":
            return self._basic(credentials.strip())
        if scheme.lower() == "bearer":
            return self._bearer(request.method, credentials.strip())
        if not header and request.url.path == f"{rest.API}/serverInfo":
            # Jira answers serverInfo anonymously.
            return _Auth("none", "")
        if header:
            return _Auth("none", "", f"unsupported authorization scheme {scheme!r}")
        return _Auth("none", "", "Client must be authenticated to access this resource.")

    def _system(self, request: Request) -> _Auth:
        """Through the gateway only an app system token is taken, acting as the app."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return _Auth("system", "", "the gateway takes only a Bearer token")
        error = self.system_tokens.error(token.strip())
        with self.lock:
            if self.tenant.uninstalled:
                error = error or "the app is not installed on this site"
        return _Auth("system", self.tenant.app_account_id, error)

    def _jwt_error(self, request: Request, token: str) -> str | None:
        # The qsh covers the path as sent (still percent-encoded) and the decoded query; Jira
        # Cloud has no context path, so nothing is stripped from the path.
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"").decode("latin-1")
        url = raw_path.decode("latin-1") + (f"?{query}" if query else "")
        with self.lock:
            secret, uninstalled = self.tenant.shared_secret, self.tenant.uninstalled
        if uninstalled:
            return "the app is not installed on this site"
        try:
            claims = verify_tenant_token(token, secret, target=request_target(request.method, url))
        except JwtError as exc:
            return str(exc)
        if claims.get("iss") != self.tenant.app_key:
            return f"JWT issuer {claims.get('iss')!r} is not the app key"
        return None

    def _basic(self, credentials: str) -> _Auth:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _Auth("basic", "", "malformed Basic credentials")
        email, _, token = decoded.partition(":")
        with self.lock:
            expected = self.api_tokens.get(email)
            user = self.site.user_by_email(email)
        if expected is None or not hmac.compare_digest(expected.encode(), token.encode()):
            return _Auth("basic", "", "Basic authentication failed: unknown email or API token")
        # An API token whose owner the test did not add as a user still needs a stable id.
        digest = hashlib.sha256(email.casefold().encode()).hexdigest()[:24]
        return _Auth("basic", user.account_id if user else f"557058:{digest}")

    def _bearer(self, method: str, token: str) -> _Auth:
        """A user's access token from the authorization server (Connect user impersonation):
        good only on the site whose install it was issued to, while the app is installed, for
        an active user, and for writes only with the WRITE scope."""
        grant = self.authorization.grant_for(token)
        with self.lock:
            client_id, uninstalled = self.tenant.oauth_client_id, self.tenant.uninstalled
            user = self.site.users.get(grant.account_id) if grant else None
        if grant is None or grant.oauth_client_id != client_id or uninstalled:
            return _Auth("bearer", "", "the access token is not valid for this site")
        if user is None or not user.active:
            return _Auth("bearer", "", "the access token's user is not active on this site")
        if method != "GET" and "WRITE" not in grant.scopes:
            return _Auth("bearer", grant.account_id, "the access token does not allow writes", 403)
        return _Auth("bearer", grant.account_id)

    # --- body validation ----------------------------------------------------------------------

    def _checked_json(
        self, request: Request, template: str, body: bytes
    ) -> tuple[Any, Response | None]:
        """The parsed body, or the 4xx answer Jira would give to it."""
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("application/json"):
            error = {"errorMessages": [f"Unsupported Media Type: {content_type!r}"], "errors": {}}
            return None, JSONResponse(error, status_code=415)
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            return None, self._invalid("json", request, [f"body is not JSON: {exc}"], {})
        spec = jsm_openapi() if template.startswith(SERVICE_DESK_API) else jira_openapi()
        messages = spec.request_body_errors(template, request.method, parsed)
        if messages:
            return None, self._invalid("openapi", request, messages, {})
        for where, document in self._adf_documents(template, parsed):
            messages = [f"{where}: {m}" for m in adf_schema().errors(document)]
            if messages:
                return None, self._invalid("adf", request, messages, {where: cat.NOT_ADF})
        return parsed, None

    def _invalid(
        self, kind: str, request: Request, messages: list[str], errors: dict[str, str]
    ) -> Response:
        failure = ValidationFailure(kind, request.method, request.url.path, tuple(messages))
        with self.lock:
            self.validation_failures.append(failure)
        return JSONResponse({"errorMessages": messages, "errors": errors}, status_code=400)

    def _adf_documents(self, template: str, body: Any) -> list[tuple[str, Any]]:
        """(where, document) for every value in `body` that Jira reads as ADF."""
        if not isinstance(body, dict):
            return []
        if template.endswith("/comment"):
            return [("body", body["body"])] if body.get("body") is not None else []
        with self.lock:
            adf_fields = cat.ADF_SYSTEM_FIELDS | {
                f.id for f in self.site.custom_fields.values() if f.schema_type == "textarea"
            }
        found: list[tuple[str, Any]] = []
        fields = body.get("fields")
        for name, value in fields.items() if isinstance(fields, dict) else ():
            is_doc = isinstance(value, dict) and value.get("type") == "doc"
            if value is not None and (is_doc or name in adf_fields):
                found.append((name, value))
        update = body.get("update")
        for name, operations in update.items() if isinstance(update, dict) else ():
            for operation in operations if isinstance(operations, list) else ():
                values = operation.values() if isinstance(operation, dict) else ()
                found += [
                    (name, v) for v in values if isinstance(v, dict) and v.get("type") == "doc"
                ]
        return found
