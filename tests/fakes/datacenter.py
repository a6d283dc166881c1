"""A fake Jira Data Center server on a loopback port (REST API v2, wiki markup, PATs).

It plays what the connector meets on Jira Data Center 9.12 and 10.x, and refuses what only
Jira Cloud accepts:
- only `/rest/api/2/...` exists (`/rest/api/3` is a 404, as on Data Center);
- `Authorization: Bearer <personal access token>` acting as the token's user (401 otherwise);
- descriptions and comment bodies are wiki-markup strings: an ADF document is refused with the
  400 Data Center gives ("Operation value must be a string");
- users have `name` and `key`, no `accountId`; fields take users as `{"name": ...}`; user
  search needs `username` (which matches name, display name or address);
- serverInfo says `deploymentType` "DataCenter" (or "Server") and the version it was given;
- attachments need `X-Atlassian-Token: no-check`; issue and comment entity properties.
Request bodies are checked against `tests.fakes.datacenter_shapes` (written from the Data
Center REST reference, as no published schema could be had, see there), and so is every
answer the fake gives; failures are recorded in `validation_failures` for tests to assert on.

    with FakeJiraDataCenter() as jira:
        jira.add_project("SUP", "Support")
        token = jira.add_user("jsmith", "john@example.com", "John Smith", token=True)
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import (
    datacenter_meta,  # noqa: F401 - registers its resources
    datacenter_search,  # noqa: F401 - registers its resources
)
from tests.fakes import datacenter_shapes as shapes
from tests.fakes.datacenter_rest import ROUTES, DcSite
from tests.fakes.routing import Call
from tests.fakes.server import LoopbackServer
from tests.fakes.site import JiraError, jira_timestamp

__all__ = ["FakeJiraDataCenter", "LoggedCall"]

API = "/rest/api/2"


@dataclass(frozen=True)
class LoggedCall:
    method: str
    path: str
    status: int
    user: str  # the PAT's user name, "" when not authenticated
    headers: dict[str, str] = field(default_factory=dict, repr=False)


class FakeJiraDataCenter:
    def __init__(
        self,
        *,
        version: str = "9.12.0",
        deployment_type: str = "DataCenter",
        projects: Mapping[str, str] | None = None,
    ) -> None:
        """`projects`: key -> name of projects the server has from the start."""
        self.site = DcSite(version=version, deployment_type=deployment_type)
        for key, name in (projects or {}).items():
            self.site.add_project(key, name, ("Task", "Bug"))
        self.tokens: dict[str, str] = {}  # personal access token -> user name
        self.requests_log: list[LoggedCall] = []
        self.validation_failures: list[str] = []
        self._lock = threading.RLock()
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=_METHODS)])
        self._server = LoopbackServer(app, name="fake-jira-datacenter")

    # --- running ----------------------------------------------------------------------------

    def start(self) -> FakeJiraDataCenter:
        self._server.start()
        self.site.base_url = self._server.base_url
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeJiraDataCenter:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    # --- seeding and inspection -------------------------------------------------------------

    def add_user(
        self,
        name: str,
        email: str,
        display_name: str,
        *,
        active: bool = True,
        token: bool = False,
    ) -> str | None:
        """Add a user (its key is made up, as Jira does for users created after 8.x: `JIRAUSER`
        and a number); with `token`, return a new personal access token of theirs."""
        with self._lock:
            self.site.add_user(name, email, display_name, active=active)
            if not token:
                return None
            pat = secrets.token_urlsafe(33)
            self.tokens[pat] = name
            return pat

    def add_project(
        self, key: str, name: str, issue_types: tuple[str, ...] = ("Task", "Bug")
    ) -> None:
        with self._lock:
            self.site.add_project(key, name, issue_types)

    def set_permissions(self, name: str, *keys: str) -> None:
        """Replace what user `name` holds (`GET mypermissions`); by default a user holds
        enough to file mail, as `tests.fakes.catalogue.DEFAULT_PERMISSIONS` says."""
        with self._lock:
            self.site.permissions[name] = frozenset(keys)

    def issue(self, key: str) -> dict[str, Any] | None:
        """The stored issue: fields as sent, comments, attachments and properties."""
        with self._lock:
            found = self.site.issues.get(key)
            return json.loads(json.dumps(found, default=str)) if found else None

    def issue_keys(self) -> list[str]:
        with self._lock:
            return sorted(self.site.issues, key=lambda k: int(self.site.issues[k]["id"]))

    def add_agent_comment(self, issue_key: str, body: str, author: str) -> str:
        """A comment (wiki markup) user `author` wrote in Jira; answers its id."""
        with self._lock:
            issue = self.site.find_issue(issue_key)
            return str(self.site.add_comment(issue, body, author, {})["id"])

    def change_status(self, issue_key: str, status: str, author: str) -> None:
        """User `author` moves the issue to `status` in Jira (one changelog history)."""
        with self._lock:
            issue = self.site.find_issue(issue_key)
            now = jira_timestamp()
            item = {"field": "status", "fieldtype": "jira", "from": "1",
                    "fromString": issue["status"], "to": "3", "toString": status}  # fmt: skip
            issue["histories"].append({"id": self.site.next_id(),
                                       "author": self.site.user_json(author), "created": now,
                                       "items": [item]})  # fmt: skip
            issue["status"], issue["updated"] = status, now

    def attachment_content(self, issue_key: str, filename: str) -> bytes:
        with self._lock:
            attachments = self.site.issues[issue_key]["attachments"]
            return bytes(next(a["bytes"] for a in attachments if a["filename"] == filename))

    # --- HTTP -------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        user = self._user(request.headers.get("authorization", ""))
        headers = {k.lower(): v for k, v in request.headers.items()}
        status, answer = self._answer(request.method, path, request, body, user)
        with self._lock:
            self.requests_log.append(LoggedCall(request.method, path, status, user or "", headers))
        if answer is None:
            return Response(status_code=status)
        return JSONResponse(answer, status_code=status)

    def _user(self, authorization: str) -> str | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self._lock:
            name = self.tokens.get(token.strip())
            user = self.site.users.get(name) if name else None
        return name if user is not None and user["active"] else None

    def _answer(
        self, method: str, path: str, request: Request, body: bytes, user: str | None
    ) -> tuple[int, Any]:
        if user is None:
            return 401, {"errorMessages": ["You are not authenticated. Authentication required."]}
        if not path.startswith(API + "/"):
            return 404, {"errorMessages": [f"No resource found for {method} {path}"]}
        route = ROUTES.get(method, path[len(API) :])
        if route is None:
            return 404, {"errorMessages": [f"No resource found for {method} {path}"]}
        handler, params, request_shape = route
        parsed: Any = None
        if request_shape is not None:
            try:
                parsed = json.loads(body or b"null")
            except ValueError:
                return 400, {"errorMessages": ["Unexpected character in the request body"]}
            found = shapes.problems(request_shape, parsed)
            if found:
                self._failed(f"{method} {path} request", found)
        call = Call(
            params=params,
            query={k: request.query_params.getlist(k) for k in request.query_params},
            json=parsed,
            body=body,
            headers={k.lower(): v for k, v in request.headers.items()},
            caller_id=user,
        )
        try:
            with self._lock:
                status, answer, answer_shape = handler(self.site, call)
        except JiraError as error:
            return error.status, error.body()
        if answer_shape is not None:
            found = shapes.problems(answer_shape, answer)
            if found:
                self._failed(f"{method} {path} answer", found)
        return status, answer

    def _failed(self, what: str, found: list[str]) -> None:
        with self._lock:
            self.validation_failures.append(f"{what}: {'; '.join(found[:3])}")


_METHODS = ["GET", "POST", "PUT", "DELETE"]
