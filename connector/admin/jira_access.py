"""Ask Jira, as the app, whether a user holds a global permission (e.g. ADMINISTER), or a
permission in one project (ADMINISTER_PROJECTS: a project administrator).

`POST /rest/api/3/permissions/check` answers for the `accountId` in the body, not for the
caller, so the app can check the user behind a context token without acting as that user
(developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-permissions/
#api-rest-api-3-permissions-check-post).
"""

from __future__ import annotations

from collections.abc import Callable

from connector.jira.auth import JiraSite
from connector.jira.client import JiraClient
from connector.jira.errors import JiraError
from connector.jira.session import RetryingSession
from connector.jira.transport import DEFAULT_TIMEOUT_SECONDS


def check_global_permission(
    site: JiraSite,
    account_id: str,
    permission: str,
    *,
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
) -> bool:
    """True when Jira says `account_id` holds `permission` on the whole site.

    Raises `JiraError` when Jira refuses or cannot be reached: "don't know" must never read
    as "no" or "yes". Few retries and short waits: an admin is waiting for the page."""
    return _ask(
        site,
        timeout_seconds,
        lambda c: permission in c.global_permissions(account_id, [permission]),
    )


def check_own_permission(
    site: JiraSite, permission: str, *, timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
) -> bool:
    """True when Jira says the caller itself (the site's credentials) holds `permission`
    (`GET mypermissions?permissions=...`, on REST v3 or, for Jira Data Center, v2: the
    site's dialect); raises `JiraError` as above. Cloud requires the `permissions`
    parameter; a Data Center server that does not take it lists every permission instead, of
    which only the asked ones are read, so the answer is the same either way."""
    return _ask(site, timeout_seconds, lambda c: permission in c.my_permissions([permission]))


def _ask(site: JiraSite, timeout_seconds: int, question: Callable[[JiraClient], bool]) -> bool:
    session = RetryingSession(max_attempts=2, max_wait_seconds=5.0)
    try:
        return question(JiraClient(site, timeout_seconds=timeout_seconds, session=session))
    finally:
        session.close()


def check_project_permission(
    site: JiraSite,
    account_id: str,
    permission: str,
    project_key: str,
    *,
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
) -> bool:
    """True when Jira says `account_id` holds `permission` in the project with this key (the
    check takes project ids, so the key is looked up first). A project Jira does not show the
    app is no project the account administers here: False. Raises `JiraError` otherwise."""
    session = RetryingSession(max_attempts=2, max_wait_seconds=5.0)
    try:
        client = JiraClient(site, timeout_seconds=timeout_seconds, session=session)
        try:
            project = client.get_project(project_key)
        except JiraError as exc:
            if exc.status == 404:
                return False
            raise
        project_id = int(str(project.get("id")))
        return permission in client.project_permissions(account_id, [permission], [project_id])
    finally:
        session.close()
