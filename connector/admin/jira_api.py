"""`/api/v1/jira/...`: what the set-up wizard offers to choose from, read from the tenant's Jira
(and the users an address rule's assignee is picked from).

The wizard's first step picks a project and an issue type; the page cannot ask Jira itself
with the app's rights, so these calls do it as the app. Issue types come from the create
metadata, so only types the app may create in that project are offered.
"""

from __future__ import annotations

import re

from connector.admin.endpoint import Answer, ApiCall
from connector.admin.errors import ApiError
from connector.admin.jira_calls import jira_client, jira_unavailable
from connector.jira.errors import JiraError, JiraNotFound
from connector.resources.declare import PROJECT_KEY_PATTERN

_PROJECT_KEY = re.compile(PROJECT_KEY_PATTERN)


def list_projects(call: ApiCall) -> Answer:
    """GET /api/v1/jira/projects: every project the app can see, by key."""
    try:
        with jira_client(call) as client:
            found = client.search_projects()
    except JiraError as exc:
        raise jira_unavailable(exc, "read the projects from Jira") from exc
    projects = [
        {"id": str(item.get("id", "")), "key": str(item["key"]), "name": str(item.get("name", ""))}
        for item in found
        if isinstance(item.get("key"), str)
    ]
    return Answer({"projects": projects})


def list_issue_types(call: ApiCall) -> Answer:
    """GET /api/v1/jira/projects/{project_key}/issue-types: the types the app may create."""
    project_key = str(call.path_params["project_key"]).upper()
    if not _PROJECT_KEY.match(project_key):
        raise ApiError(400, "project_key: is not a Jira project key", field="project_key")
    try:
        with jira_client(call) as client:
            found = client.get_create_issue_types(project_key)
    except JiraNotFound as exc:
        raise ApiError(
            404,
            f"Jira has no project {project_key}, or the app may not see it "
            "(add the app to the project's permission scheme)",
            field="project_key",
        ) from exc
    except JiraError as exc:
        raise jira_unavailable(exc, f"read the issue types of {project_key} from Jira") from exc
    issue_types = [
        {
            "id": str(item.get("id", "")),
            "name": str(item["name"]),
            "subtask": bool(item.get("subtask", False)),
        }
        for item in found
        if isinstance(item.get("name"), str)
    ]
    return Answer({"project_key": project_key, "issue_types": issue_types})


MAX_USERS = 20


def search_users(call: ApiCall) -> Answer:
    """GET /api/v1/jira/users?q=: active Jira users (people, not apps or customers) whose name
    or email matches, for picking an address rule's assignee by name instead of account id."""
    unknown = set(call.query) - {"q"}
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(400, f"{name}: is not a filter of Jira users", field=name)
    query = call.query.get("q", "").strip()
    if not query:
        raise ApiError(400, "q: type part of a name or email to search for", field="q")
    try:
        with jira_client(call) as client:
            found = client.find_users(query, max_results=MAX_USERS)
    except JiraError as exc:
        raise jira_unavailable(exc, "search Jira's users") from exc
    users = [
        {"account_id": user.account_id, "display_name": user.display_name, "email": user.email}
        for user in found
        if user.active and user.account_type == "atlassian"
    ]
    return Answer({"users": users})
