"""REST resources about the site: users, server info, fields, projects, create metadata,
permissions."""

from __future__ import annotations

from tests.fakes import catalogue as cat
from tests.fakes import render
from tests.fakes.routing import Call, Reply, Router
from tests.fakes.site import JiraError, JiraSite, jira_timestamp

router = Router()


# --- users ------------------------------------------------------------------------------------


@router.route("GET", "/user/search")
def user_search(site: JiraSite, call: Call) -> Reply:
    query, account_id = call.arg("query"), call.arg("accountId")
    if not query and not account_id:
        raise JiraError(400, ["One of 'query' or 'accountId' query parameters must be provided."])
    needle = (query or "").casefold()
    found = [
        render.user_json(site, user.account_id, full=True)
        for user in site.users.values()
        if (account_id is None or user.account_id == account_id)
        and (needle in user.email.casefold() or needle in user.display_name.casefold())
    ]
    start_at = call.int_arg("startAt", 0)
    return Reply(200, found[start_at : start_at + call.int_arg("maxResults", 50)])


@router.route("GET", "/user")
def get_user(site: JiraSite, call: Call) -> Reply:
    account_id = call.arg("accountId")
    if not account_id or account_id not in site.users:
        raise JiraError(
            404, ["Specified user does not exist or you do not have required permissions"]
        )
    return Reply(200, render.user_json(site, account_id, full=True))


@router.route("GET", "/myself")
def myself(site: JiraSite, call: Call) -> Reply:
    return Reply(200, render.user_json(site, call.caller_id, full=True))


# --- site metadata ----------------------------------------------------------------------------


@router.route("GET", "/serverInfo")
def server_info(site: JiraSite, call: Call) -> Reply:
    return Reply(
        200,
        {
            "baseUrl": site.base_url,
            "displayUrl": site.base_url,
            "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud",
            "buildNumber": 100285,
            "buildDate": "2025-01-01T00:00:00.000+0000",
            "serverTime": jira_timestamp(),
            "scmInfo": "0000000000000000000000000000000000000000",
            "serverTitle": "Jira",
        },
    )


@router.route("GET", "/field")
def get_fields(site: JiraSite, call: Call) -> Reply:
    return Reply(200, render.field_list(site))


@router.route("GET", "/project/search")
def search_projects(site: JiraSite, call: Call) -> Reply:
    """Projects the caller may browse, by key; `query` matches key or name (case-insensitive)."""
    needle = (call.arg("query") or "").casefold()
    found = [
        render.project_json(site, project, full=False)
        for project in sorted(site.projects.values(), key=lambda p: p.key)
        if needle in project.key.casefold() or needle in project.name.casefold()
    ]
    start_at, max_results = call.int_arg("startAt", 0), call.int_arg("maxResults", 50)
    page = render.paged(found, start_at, max_results, "values")
    page["isLast"] = start_at + max_results >= len(found)
    return Reply(200, page)


@router.route("GET", "/project/{projectIdOrKey}")
def get_project(site: JiraSite, call: Call) -> Reply:
    return Reply(200, render.project_json(site, site.find_project(call.params["projectIdOrKey"])))


@router.route("GET", "/issue/createmeta/{projectIdOrKey}/issuetypes")
def create_meta_issue_types(site: JiraSite, call: Call) -> Reply:
    project = site.find_project(call.params["projectIdOrKey"])
    types = [render.issue_type_json(site, t) for t in project.issue_types]
    start_at, max_results = call.int_arg("startAt", 0), call.int_arg("maxResults", 50)
    return Reply(200, render.paged(types, start_at, max_results, "issueTypes"))


@router.route("GET", "/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}")
def create_meta_fields(site: JiraSite, call: Call) -> Reply:
    project = site.find_project(call.params["projectIdOrKey"])
    if not any(t.id == call.params["issueTypeId"] for t in project.issue_types):
        raise JiraError(404, [f"Issue type with id '{call.params['issueTypeId']}' not found."])
    fields = render.create_meta_fields(site, project)
    start_at, max_results = call.int_arg("startAt", 0), call.int_arg("maxResults", 50)
    return Reply(200, render.paged(fields, start_at, max_results, "fields"))


# --- permissions ------------------------------------------------------------------------------


def _permission_keys(requested: list[str]) -> list[str]:
    unknown = [key for key in requested if key not in cat.ALL_PERMISSIONS]
    if unknown:
        raise JiraError(400, [f"Unrecognized permission keys: {', '.join(unknown)}"])
    return requested


@router.route("GET", "/mypermissions")
def my_permissions(site: JiraSite, call: Call) -> Reply:
    keys = [k for item in call.args("permissions") for k in item.split(",") if k]
    if not keys:
        raise JiraError(400, ["The 'permissions' query parameter is required."])
    holder = call.caller_id if call.caller_id in site.permissions else None
    body = {
        key: {
            "id": str(index),
            "key": key,
            "name": cat.ALL_PERMISSIONS[key],
            "type": "GLOBAL" if key in cat.GLOBAL_PERMISSIONS else "PROJECT",
            "description": cat.ALL_PERMISSIONS[key],
            "havePermission": site.has_permission(holder, key),
        }
        for index, key in enumerate(_permission_keys(keys), start=1)
    }
    return Reply(200, {"permissions": body})


@router.route("POST", "/permissions/check", body="json")
def check_permissions(site: JiraSite, call: Call) -> Reply:
    body = call.json
    holder = body.get("accountId")
    if holder is None and call.caller_id in site.permissions:
        holder = call.caller_id
    global_keys = _permission_keys(list(body.get("globalPermissions") or []))
    project_grants = []
    for request in body.get("projectPermissions") or []:
        for key in _permission_keys(list(request.get("permissions") or [])):
            held = site.has_permission(holder, key)
            project_grants.append(
                {
                    "permission": key,
                    "projects": list(request.get("projects") or []) if held else [],
                    "issues": list(request.get("issues") or []) if held else [],
                }
            )
    granted = [key for key in global_keys if site.has_permission(holder, key)]
    return Reply(200, {"globalPermissions": granted, "projectPermissions": project_grants})
