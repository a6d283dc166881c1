"""`/api/v1/settings/workaround-user`: the Atlassian account that finds Jira users by address.

Jira Cloud shows a user's email address only where their profile allows it, and never to an
app by default; an API token of a real account with "Browse users and groups" sees what that
account sees. The token is write-only (encrypted at rest, never answered, logged or echoed in
a test step); basic auth with it goes only to the tenant's own base URL
(`connector.jira.auth` withholds credentials from any other origin).

A Jira Data Center site has no use for one: its personal access token is of one account that
searches users itself (`connector.wiring` ignores a workaround user there). The answers say
which kind of site it is (`site_kind`) and whether a workaround user `applies`, so the set-up
wizard leaves the step out; saving or testing one for such a site is refused (409).
"""

from __future__ import annotations

import re
from typing import Any

from connector.admin.endpoint import Answer, ApiCall, log_action
from connector.admin.errors import ApiError
from connector.admin.jira_calls import jira_client
from connector.jira.auth import api_token_site
from connector.jira.client import JiraClient
from connector.jira.errors import JiraAuthError, JiraError, JiraNotFound
from connector.resources.declare import PROJECT_KEY_PATTERN, names
from connector.resources.tenant_settings import MAX_TOKEN_CHARS, WORKAROUND_USER
from connector.storage.tenant_settings import WorkaroundStatus, WorkaroundUser
from connector.tenant import DATACENTER_SITE

_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PROJECT_KEY = re.compile(PROJECT_KEY_PATTERN)
_SETTINGS = names(WORKAROUND_USER)


def get_workaround_user(call: ApiCall) -> Answer:
    """GET /api/v1/settings/workaround-user"""
    status = call.runtime.tenant_settings.workaround_status(call.tenant.id)
    return Answer(_status_json(call, status))


def put_workaround_user(call: ApiCall) -> Answer:
    """PUT /api/v1/settings/workaround-user: `{"email", "api_token"}`; without `api_token`
    the stored token is kept."""
    _refuse_where_unused(call)
    body = call.body()
    for name in body:
        if name not in _SETTINGS:
            raise ApiError(400, f"{name}: is not a workaround-user setting", field=name)
    email = _email(body.get("email"), "email", required=True)
    token = body.get("api_token")
    if token is not None and (
        not isinstance(token, str)
        or not token.strip()
        or len(token) > MAX_TOKEN_CHARS
        or any(ch.isspace() for ch in token.strip())
    ):
        raise ApiError(
            400,
            "api_token: must be an Atlassian API token (text without spaces)",
            field="api_token",
        )
    settings = call.runtime.tenant_settings
    if token is None and not settings.workaround_status(call.tenant.id).has_token:
        raise ApiError(400, "api_token: is required (none is stored yet)", field="api_token")
    status = settings.set_workaround_user(
        call.tenant.id, email, token.strip() if isinstance(token, str) else None
    )
    # Who can see which addresses changed: earlier "no account" answers may be wrong now.
    call.runtime.people.forget(call.tenant.id)
    log_action(call, "workaround_user_set", token_changed=token is not None)
    return Answer(_status_json(call, status))


def delete_workaround_user(call: ApiCall) -> Answer:
    """DELETE /api/v1/settings/workaround-user: users are then looked up as the app."""
    call.runtime.tenant_settings.clear_workaround_user(call.tenant.id)
    call.runtime.people.forget(call.tenant.id)
    log_action(call, "workaround_user_cleared")
    return Answer(_status_json(call, WorkaroundStatus(None, False)))


def try_workaround_user(call: ApiCall) -> Answer:
    """POST /api/v1/settings/workaround-user/test: `{"project_key", "lookup"}`, both optional.

    Steps: sign in with the token (`GET /myself`), find a user by address (`lookup`, else the
    account's own), see the project (`project_key`, else each enabled source's)."""
    _refuse_where_unused(call)
    body = call.body(optional=True)
    for name in body:
        if name not in ("project_key", "lookup"):
            raise ApiError(400, f"{name}: is not an option of the test", field=name)
    lookup = _email(body.get("lookup"), "lookup", required=False)
    project_key = body.get("project_key")
    if project_key is not None and (
        not isinstance(project_key, str) or not _PROJECT_KEY.match(project_key)
    ):
        raise ApiError(
            400, "project_key: is not a Jira project key (e.g. SUP)", field="project_key"
        )
    user = call.runtime.tenant_settings.workaround_user(call.tenant.id)
    if user is None:
        raise ApiError(409, "no workaround user is stored: save an email and API token first")
    projects = [project_key] if project_key else _source_projects(call)
    site = api_token_site(call.tenant.base_url, email=user.email, api_token=user.api_token)
    with jira_client(call, site) as client:
        steps = _run_steps(client, user, lookup or user.email, projects)
    ok = all(step["ok"] for step in steps)
    log_action(call, "workaround_user_tested", ok=ok)
    return Answer({"ok": ok, "steps": steps})


def _run_steps(
    client: JiraClient, user: WorkaroundUser, lookup: str, projects: list[str]
) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    try:
        me = client.myself()
        name = str(me.get("displayName") or me.get("accountId") or "the account")
        steps.append(_step("authenticate", True, f"signed in to Jira as {name}"))
    except JiraError as exc:
        why = (
            "Jira refused this email and API token"
            if isinstance(exc, JiraAuthError)
            else "Jira could not be asked"
        )
        steps.append(_step("authenticate", False, f"{why}: {exc}"))
        skipped = "not tried: signing in failed"
        steps.append(_step("browse_users", False, skipped))
        steps += [_step("project", False, skipped) for _ in projects]
        return steps
    steps.append(_browse_step(client, lookup, own=lookup.lower() == user.email.lower()))
    steps += [_project_step(client, key) for key in projects]
    return steps


def _browse_step(client: JiraClient, lookup: str, *, own: bool) -> dict[str, Any]:
    who = "its own address" if own else "the address to look up"
    try:
        users = client.find_users(lookup, max_results=10)
    except JiraError as exc:
        return _step("browse_users", False, f"searching users failed: {exc}")
    match = next((u for u in users if (u.email or "").lower() == lookup.lower()), None)
    if match is not None:
        return _step("browse_users", True, f"found {match.display_name} by {who}")
    if users:
        return _step(
            "browse_users",
            False,
            f"Jira found users for {who} but shows none with that address: the account "
            "may not see email addresses",
        )
    return _step(
        "browse_users",
        False,
        f"no user found by {who}: the account needs the 'Browse users and groups' permission "
        "(or nobody has that address)",
    )


def _project_step(client: JiraClient, project_key: str) -> dict[str, Any]:
    try:
        project = client.get_project(project_key)
    except JiraNotFound:
        return _step("project", False, f"cannot see project {project_key}")
    except JiraError as exc:
        return _step("project", False, f"reading project {project_key} failed: {exc}")
    return _step("project", True, f"can see {project_key} ({project.get('name', '')})")


def _step(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail}


def _source_projects(call: ApiCall) -> list[str]:
    sources = call.runtime.sources.search(call.tenant.id)
    return sorted({s.spec.project_key for s in sources if s.enabled})


def _email(value: Any, name: str, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{name}: is required (an email address)", field=name)
    text = value.strip()
    if len(text) > 320 or not _EMAIL.match(text):
        raise ApiError(400, f"{name}: is not an email address", field=name)
    return text


def _applies(call: ApiCall) -> bool:
    return call.tenant.kind != DATACENTER_SITE


def _refuse_where_unused(call: ApiCall) -> None:
    if not _applies(call):
        raise ApiError(
            409,
            "This is a Jira Data Center site: it needs no workaround user. The personal access "
            "token's account looks up users itself, so a workaround user would never be used.",
        )


def _status_json(call: ApiCall, status: WorkaroundStatus) -> dict[str, Any]:
    return {
        "email": status.email,
        "has_token": status.has_token,
        "site_kind": call.tenant.kind,
        "applies": _applies(call),
    }
