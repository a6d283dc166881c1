"""Calling the tenant's Jira from an admin API handler: short waits, errors an admin can act on.

An administrator is waiting for the page, so retries are few and waits short (the pipeline's
client waits longer). A Jira failure the admin cannot fix here becomes a 502 naming what we
were doing; refusals a handler can explain better (404, 403) are left to the handler.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from connector.admin.endpoint import ApiCall
from connector.admin.errors import ApiError
from connector.jira.auth import JiraSite, tenant_site
from connector.jira.client import JiraClient
from connector.jira.errors import JiraError
from connector.jira.session import RetryingSession

TIMEOUT_SECONDS = 15


@contextmanager
def jira_client(call: ApiCall, site: JiraSite | None = None) -> Iterator[JiraClient]:
    """A client for the caller's tenant: as the app, or with `site`'s own auth."""
    limiter = call.runtime.jira_limiter
    session = RetryingSession(max_attempts=2, max_wait_seconds=5.0, limiter=limiter)
    try:
        chosen = site or tenant_site(call.tenant, app_key=call.runtime.settings.app_key)
        yield JiraClient(chosen, timeout_seconds=TIMEOUT_SECONDS, session=session)
    finally:
        session.close()


def jira_unavailable(exc: JiraError, doing: str) -> ApiError:
    """502: `doing` failed in Jira, in Jira's words (never a credential: Jira does not echo
    them, and our own messages never include them)."""
    return ApiError(502, f"could not {doing}: {exc}")
