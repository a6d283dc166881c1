"""Reaching a Jira Data Center server: personal access token, REST v2, supported versions.

    site = datacenter_site("https://jira.example.com", token=pat)
    client = JiraClient(site, limiter=...)          # speaks REST v2 with wiki markup bodies
    problem = server_problem(client.server_info())  # None for Data Center 9.12 and later

A personal access token (Jira 8.14 and later, profile > Personal Access Tokens) is sent as
`Authorization: Bearer <token>` and acts as the user who made it; `BearerTokenAuth` sends it
to the server's own origin only. Jira Data Center 9.12 (the long-term support release) and
10.x are supported: earlier versions are refused with a clear message, later ones are taken
as compatible (the REST v2 resources used here are unchanged through 10.x and 11.x).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connector.jira.auth import BearerTokenAuth, JiraSite
from connector.jira.dialect import DATA_CENTER

OLDEST_SUPPORTED = (9, 12)
SELF_HOSTED_TYPES = frozenset({"Server", "DataCenter"})


def datacenter_site(base_url: str, *, token: str) -> JiraSite:
    """A Data Center server reached with a personal access token (bearer)."""
    base_url = base_url.rstrip("/")
    return JiraSite(
        base_url=base_url, auth=BearerTokenAuth(base_url, token=token), dialect=DATA_CENTER
    )


def server_version(info: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The version `GET /rest/api/2/serverInfo` reports, as numbers (None if it says none)."""
    numbers = info.get("versionNumbers")
    if isinstance(numbers, list) and numbers and all(isinstance(n, int) for n in numbers):
        return tuple(numbers)
    found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", str(info.get("version") or ""))
    return tuple(int(part) for part in found.groups() if part is not None) if found else None


def server_problem(info: Mapping[str, Any]) -> str | None:
    """Why this server cannot be connected as a Data Center site, or None when it can."""
    deployment = str(info.get("deploymentType") or "")
    if deployment == "Cloud":
        return "this is a Jira Cloud site: connect it with an API token instead"
    if deployment not in SELF_HOSTED_TYPES:
        return f"Jira did not say it is Data Center (deployment type {deployment or 'none'!r})"
    version = server_version(info)
    if version is None:
        return "Jira did not say which version it runs"
    if version[:2] < OLDEST_SUPPORTED:
        shown = ".".join(str(n) for n in version)
        return f"Jira {shown} is too old: Jira Data Center 9.12 or later is needed"
    return None
