"""All REST resources of the fake Jira (platform REST API v3, and JSM's servicedeskapi)."""

from __future__ import annotations

from tests.fakes import rest_fields, rest_issues, rest_jsm, rest_site
from tests.fakes.routing import API, Call, Reply, Route, find_route

__all__ = ["API", "ROUTES", "Call", "Reply", "Route", "match_route"]

ROUTES: list[Route] = [
    *rest_issues.router.routes,
    *rest_site.router.routes,
    *rest_fields.router.routes,
    *rest_jsm.router.routes,
]


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    return find_route(ROUTES, method, path)
