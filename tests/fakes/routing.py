"""Routing for the fake Jira's REST resources: what a handler gets and what it answers.

Each handler runs with the site lock held and the request body already checked against the
OpenAPI spec; it answers a `Reply` or raises `JiraError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.site import JiraError, JiraSite

API = "/rest/api/3"
SERVICE_DESK_API = "/rest/servicedeskapi"


@dataclass(frozen=True)
class Call:
    params: Mapping[str, str]
    query: Mapping[str, list[str]]
    json: Any
    body: bytes
    headers: Mapping[str, str]
    caller_id: str

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def int_arg(self, name: str, default: int) -> int:
        value = self.arg(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError as exc:
            raise JiraError(400, [f"The value '{value}' is invalid for {name}."]) from exc


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    media_type: str = "application/json"


Handler = Callable[[JiraSite, Call], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler
    # "json": a JSON body checked against the spec; "raw": any bytes, the handler decides.
    body: str | None


class Router:
    """Handlers of one module, registered with `@router.route(method, template)`; templates
    are below `prefix` (the platform API unless the module serves another one)."""

    def __init__(self, prefix: str = API) -> None:
        self.prefix = prefix
        self.routes: list[Route] = []

    def route(
        self, method: str, template: str, *, body: str | None = None
    ) -> Callable[[Handler], Handler]:
        full = self.prefix + template
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(full))

        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, full, re.compile(pattern + "$"), handler, body))
            return handler

        return register


def find_route(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    candidates = []
    for entry in routes:
        match = entry.regex.match(path)
        if match and entry.method == method:
            candidates.append((entry, match.groupdict()))
    # A literal segment beats a parameter: `/issue/createmeta/...` is not an issue key.
    candidates.sort(key=lambda found: len(found[1]))
    return candidates[0] if candidates else None
