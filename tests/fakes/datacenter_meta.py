"""REST resources of the fake Jira Data Center about what the caller may do: projects, create
metadata, fields and permissions (registered on `tests.fakes.datacenter_rest.ROUTES`).

Data Center pages create metadata as `{"values": [...], "startAt", "maxResults", "total",
"isLast"}` (Jira 8.4 and later), where Cloud names the items `issueTypes` and `fields`; and
`GET /rest/api/2/mypermissions` needs the `permissions` parameter since Jira 9.
"""

from __future__ import annotations

from typing import Any

from tests.fakes import catalogue as cat
from tests.fakes.datacenter_rest import Answer, DcSite, route
from tests.fakes.routing import Call
from tests.fakes.site import JiraError

_CREATE_SCREEN = {
    "summary": ("Summary", {"type": "string", "system": "summary"}, True),
    "description": ("Description", {"type": "string", "system": "description"}, False),
    "reporter": ("Reporter", {"type": "user", "system": "reporter"}, True),
    "labels": ("Labels", {"type": "array", "items": "string", "system": "labels"}, False),
}


def _page(items: list[dict[str, Any]], call: Call) -> dict[str, Any]:
    start, size = call.int_arg("startAt", 0), call.int_arg("maxResults", 50)
    page = items[start : start + size]
    return {"startAt": start, "maxResults": size, "total": len(items),
            "isLast": start + size >= len(items), "values": page}  # fmt: skip


def _project(site: DcSite, key: str) -> dict[str, Any]:
    project = site.projects.get(key)
    if project is None:
        raise JiraError(404, [f"No project could be found with key '{key}'."])
    return project


@route("GET", "/project/{key}")
def get_project(site: DcSite, call: Call) -> Answer:
    project = _project(site, call.params["key"])
    body = {"id": project["id"], "key": project["key"], "name": project["name"],
            "projectTypeKey": "software"}  # fmt: skip
    return 200, body, None


@route("GET", "/issue/createmeta/{key}/issuetypes")
def create_meta_types(site: DcSite, call: Call) -> Answer:
    project = _project(site, call.params["key"])
    types = [{"id": i, "name": n, "subtask": False} for n, i in project["types"].items()]
    return 200, _page(types, call), None


@route("GET", "/issue/createmeta/{key}/issuetypes/{typeId}")
def create_meta_fields(site: DcSite, call: Call) -> Answer:
    project = _project(site, call.params["key"])
    if call.params["typeId"] not in project["types"].values():
        raise JiraError(404, [f"Issue type with id '{call.params['typeId']}' not found."])
    fields = [
        {"fieldId": field_id, "name": name, "schema": schema, "required": required,
         "hasDefaultValue": field_id == "reporter", "operations": ["set"]}
        for field_id, (name, schema, required) in _CREATE_SCREEN.items()
    ]  # fmt: skip
    return 200, _page(fields, call), None


@route("GET", "/field")
def get_fields(site: DcSite, call: Call) -> Answer:
    fields = [
        {"id": field_id, "key": field_id, "name": name, "custom": False, "schema": schema}
        for field_id, (name, schema, _) in _CREATE_SCREEN.items()
    ]
    return 200, fields, None


@route("GET", "/mypermissions")
def my_permissions(site: DcSite, call: Call) -> Answer:
    keys = [k for value in call.query.get("permissions", []) for k in value.split(",") if k]
    if not keys:
        raise JiraError(400, ["The 'permissions' query parameter is required."])
    unknown = [k for k in keys if k not in cat.ALL_PERMISSIONS]
    if unknown:
        raise JiraError(400, [f"Unrecognized permission keys: {', '.join(unknown)}"])
    held = site.permissions.get(call.caller_id, cat.DEFAULT_PERMISSIONS)
    body = {
        key: {"id": str(n), "key": key, "name": cat.ALL_PERMISSIONS[key],
              "type": "GLOBAL" if key in cat.GLOBAL_PERMISSIONS else "PROJECT",
              "description": cat.ALL_PERMISSIONS[key], "havePermission": key in held}
        for n, key in enumerate(keys, start=1)
    }  # fmt: skip
    return 200, {"permissions": body}, None
