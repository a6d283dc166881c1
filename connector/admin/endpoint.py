"""One wrapper for every admin API handler: authenticate, check the administrator, parse, answer.

Handlers are plain functions of an `ApiCall` that return an `Answer` or raise `ApiError`.
They run in a worker thread, since most of them wait on a database, a mail server or Jira,
and the administrator check (a Jira call) runs there too, before the body is even parsed, so
someone who is not an administrator learns nothing about what the API would accept. The body is
read only after the token verifies, and never more than `ADMIN_MAX_BYTES` of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connector import logs
from connector.admin.access import (
    Caller,
    admin_cache,
    authenticate_caller,
    require_admin,
    require_project_admin,
)
from connector.admin.errors import ApiError
from connector.admin.poll_start import PollStarter, RequestForWorker
from connector.http_body import ADMIN_MAX_BYTES, BodyError, parse_json, read_body
from connector.runtime import Runtime
from connector.tenant import Tenant

log = logging.getLogger(__name__)

# Row ids are 64-bit signed in SQLite and PostgreSQL; a larger number names no row, and handing
# it to the database driver fails (OverflowError, NumericValueOutOfRange) instead of matching.
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class ApiCall:
    runtime: Runtime
    caller: Caller
    path_params: Mapping[str, Any]
    query: Mapping[str, str]
    raw_body: bytes = field(repr=False)
    # Where "Poll now" runs (connector.admin.poll_start): the app's choice, made at start.
    polls: PollStarter = field(default_factory=RequestForWorker)

    @property
    def tenant(self) -> Tenant:
        return self.caller.tenant

    @property
    def client_key(self) -> str:
        return self.caller.tenant.client_key

    def path_int(self, name: str) -> int:
        """An id from the path; one no row can have is "not found", as for any absent id."""
        value = self.path_params[name]
        if not isinstance(value, int):
            raise ApiError(404, f"{name} must be a number")
        if not 0 <= value <= MAX_ID:
            raise ApiError(404, f"no item with {name} {value}")
        return value

    def query_int(self, name: str) -> int | None:
        """A whole number from the query string (absent or empty: None), at most `MAX_ID`."""
        text = self.query.get(name, "").strip()
        if not text:
            return None
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
            raise ApiError(400, f"{name}: must be a whole number from 0 to {MAX_ID}", field=name)
        return int(text)

    def body(self, *, optional: bool = False) -> dict[str, Any]:
        """The JSON object sent; `optional`: an empty body reads as `{}`."""
        if not self.raw_body.strip():
            if optional:
                return {}
            raise ApiError(400, "a JSON object is required in the request body")
        try:
            parsed = parse_json(self.raw_body)  # handlers run in a worker thread already
        except BodyError as exc:
            raise ApiError(exc.status, exc.message) from None
        if not isinstance(parsed, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return parsed


@dataclass(frozen=True)
class Answer:
    """JSON unless `body` is bytes: then sent as they are, as `media_type` (a download)."""

    body: Any
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    media_type: str = "application/json"


Handler = Callable[[ApiCall], Answer]
Endpoint = Callable[[Request], Awaitable[Response]]


def admin_endpoint(handler: Handler, *, project_admins: bool = False) -> Endpoint:
    """A Starlette endpoint running `handler` for a verified administrator of the tenant; with
    `project_admins`, an administrator of the path's `project_key` may call it too."""

    async def endpoint(request: Request) -> Response:
        try:
            authenticated = await authenticate_caller(request)
            raw_body = b""
            if request.method in ("POST", "PUT"):
                raw_body = await read_body(request, limit=ADMIN_MAX_BYTES)
        except ApiError as exc:
            return exc.to_response()
        except BodyError as exc:
            return ApiError(exc.status, exc.message).to_response()
        call_args = (
            request.app.state.runtime,
            dict(request.path_params),
            dict(request.query_params),
            raw_body,
        )
        polls: PollStarter = getattr(request.app.state, "polls", None) or RequestForWorker()
        cache = admin_cache(request)

        def run() -> Response:
            runtime, path_params, query, body = call_args
            try:
                if project_admins:
                    key = str(path_params.get("project_key", ""))
                    app_key = runtime.settings.app_key
                    caller = require_project_admin(cache, authenticated, key, app_key)
                else:
                    caller = require_admin(cache, authenticated)
                answer = handler(ApiCall(runtime, caller, path_params, query, body, polls))
            except ApiError as exc:
                return exc.to_response()
            except Exception:  # a bug: say so without details, keep the traceback in the log
                log.exception("admin.api_failed path=%s", request.url.path)
                return ApiError(
                    500, "internal error; the details are in the app's log"
                ).to_response()
            if isinstance(answer.body, bytes):
                return Response(
                    answer.body,
                    status_code=answer.status,
                    headers=dict(answer.headers),
                    media_type=answer.media_type,
                )
            return JSONResponse(
                answer.body, status_code=answer.status, headers=dict(answer.headers)
            )

        return await run_in_threadpool(run)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def log_action(call: ApiCall, name: str, **fields: Any) -> None:
    """`admin.<name> client_key=... account=... ...`: who did what, never a secret."""
    logs.event(
        log, f"admin.{name}", client_key=call.client_key, account=call.caller.account_id, **fields
    )
