"""State and REST resources of the fake Jira Data Center (`tests.fakes.datacenter`).

Every handler runs with the fake's lock held and answers (status, JSON, the shape of that
answer in `tests.fakes.datacenter_shapes`, or None) or raises `JiraError`, whose body has
Jira's ErrorCollection shape on Data Center too.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.fakes import datacenter_shapes as shapes
from tests.fakes.multipart import MultipartError, parse_form_data
from tests.fakes.routing import Call
from tests.fakes.site import JiraError, jira_timestamp

API = "/rest/api/2"
NOT_A_STRING = "Operation value must be a string"
PROPERTY_VALUE_LIMIT = 32_768


Answer = tuple[int, Any, dict[str, Any] | None]
Handler = Callable[["DcSite", Call], Answer]


@dataclass
class DcSite:
    version: str
    deployment_type: str
    base_url: str = ""
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)  # by key
    permissions: dict[str, frozenset[str]] = field(default_factory=dict)  # by user name
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(10100))

    def next_id(self) -> str:
        return str(next(self._ids))

    def add_user(self, name: str, email: str, display_name: str, *, active: bool) -> None:
        key = f"JIRAUSER{self.next_id()}"
        self.users[name] = {"name": name, "key": key, "email": email, "display": display_name,
                            "active": active}  # fmt: skip

    def add_project(self, key: str, name: str, issue_types: tuple[str, ...]) -> None:
        self.projects[key] = {"id": self.next_id(), "key": key, "name": name, "next": 1,
                              "types": {t: self.next_id() for t in issue_types}}  # fmt: skip

    def user_json(self, name: str) -> dict[str, Any]:
        user = self.users[name]
        return {
            "self": f"{self.base_url}{API}/user?username={name}",
            "name": name,
            "key": user["key"],
            "emailAddress": user["email"],
            "displayName": user["display"],
            "active": user["active"],
            "timeZone": "UTC",
            "avatarUrls": {},
        }

    def find_issue(self, key: str) -> dict[str, Any]:
        issue = self.issues.get(key) or next(
            (i for i in self.issues.values() if i["id"] == key), None
        )
        if issue is None:
            raise JiraError(404, ["Issue Does Not Exist"])
        return issue

    def add_comment(
        self, issue: dict[str, Any], body: str, author: str, properties: dict[str, Any]
    ) -> dict[str, Any]:
        now = jira_timestamp()
        comment = {"id": self.next_id(), "author": author, "body": body, "created": now,
                   "properties": properties}  # fmt: skip
        issue["comments"].append(comment)
        issue["updated"] = now
        return comment

    def user_ref(self, value: Any, field_name: str) -> str:
        name = value.get("name") if isinstance(value, dict) else None
        if not isinstance(name, str) or name not in self.users:
            raise JiraError(400, [], {field_name: f"User '{name}' does not exist."})
        return name


_routes: list[tuple[str, re.Pattern[str], Handler, dict[str, Any] | None]] = []


def route(
    method: str, template: str, request: dict[str, Any] | None = None
) -> Callable[[Handler], Handler]:
    pattern = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")

    def register(handler: Handler) -> Handler:
        _routes.append((method, pattern, handler, request))
        return handler

    return register


class _Routes:
    def get(
        self, method: str, path: str
    ) -> tuple[Handler, dict[str, str], dict[str, Any] | None] | None:
        found = [
            (handler, match.groupdict(), request)
            for m, pattern, handler, request in _routes
            if m == method and (match := pattern.match(path))
        ]
        found.sort(key=lambda entry: len(entry[1]))  # literal segments win over parameters
        return found[0] if found else None


ROUTES = _Routes()


# --- site and users -------------------------------------------------------------------------


@route("GET", "/serverInfo")
def server_info(site: DcSite, call: Call) -> Answer:
    numbers = [int(part) for part in site.version.split(".")]
    body = {
        "baseUrl": site.base_url,
        "version": site.version,
        "versionNumbers": numbers,
        "deploymentType": site.deployment_type,
        "buildNumber": numbers[0] * 10000 + numbers[1] * 100,
        "buildDate": "2024-01-01T00:00:00.000+0000",
        "serverTime": jira_timestamp(),
        "scmInfo": "0" * 40,
        "serverTitle": "Jira",
    }
    return 200, body, shapes.SERVER_INFO


@route("GET", "/myself")
def myself(site: DcSite, call: Call) -> Answer:
    return 200, site.user_json(call.caller_id), shapes.USER


@route("GET", "/user/search")
def user_search(site: DcSite, call: Call) -> Answer:
    wanted = call.arg("username")
    if not wanted:
        raise JiraError(400, ["The username query parameter was not provided"])
    needle = wanted.casefold()
    found = [
        site.user_json(name)
        for name, user in sorted(site.users.items())
        if any(str(user[k]).casefold().startswith(needle) for k in ("name", "email", "display"))
    ]
    limit = call.int_arg("maxResults", 50)
    return 200, found[:limit], {"type": "array", "items": shapes.USER}


@route("GET", "/project")
def projects(site: DcSite, call: Call) -> Answer:
    found = [{"id": p["id"], "key": p["key"], "name": p["name"]} for p in site.projects.values()]
    return 200, found, None


# --- issues ---------------------------------------------------------------------------------


@route("POST", "/issue", shapes.CREATE_ISSUE)
def create_issue(site: DcSite, call: Call) -> Answer:
    fields = dict((call.json or {}).get("fields") or {})
    errors: dict[str, str] = {}
    project = site.projects.get(str((fields.get("project") or {}).get("key")))
    if project is None:
        errors["project"] = "project is required"
    wanted_type = (fields.get("issuetype") or {}).get("name")
    if project is not None and wanted_type not in project["types"]:
        errors["issuetype"] = "valid issue type is required"
    for text_field in ("summary", "description", "environment"):
        if text_field in fields and not isinstance(fields[text_field], str):
            errors[text_field] = NOT_A_STRING
    if not str(fields.get("summary") or "").strip():
        errors.setdefault("summary", "You must specify a summary of the issue.")
    if errors or project is None:
        raise JiraError(400, [], errors)
    reporter = (
        site.user_ref(fields["reporter"], "reporter") if "reporter" in fields else call.caller_id
    )
    if fields.get("assignee") is not None:
        site.user_ref(fields["assignee"], "assignee")
    key = f"{project['key']}-{project['next']}"
    project["next"] += 1
    properties = {p["key"]: p["value"] for p in (call.json or {}).get("properties") or []}
    issue_id = site.next_id()
    now = jira_timestamp()
    site.issues[key] = {"id": issue_id, "key": key, "fields": fields, "reporter": reporter,
                        "properties": properties, "comments": [], "attachments": [],
                        "created": now, "updated": now, "status": "Open",
                        "histories": []}  # fmt: skip
    body = {"id": issue_id, "key": key, "self": f"{site.base_url}{API}/issue/{issue_id}"}
    return 201, body, shapes.CREATED_ISSUE


@route("GET", "/issue/{key}")
def get_issue(site: DcSite, call: Call) -> Answer:
    issue = site.find_issue(call.params["key"])
    fields = {**issue_fields(site, issue), "reporter": site.user_json(issue["reporter"])}
    fields["attachment"] = [_attachment_json(site, a) for a in issue["attachments"]]
    wanted = {f for value in call.query.get("fields", []) for f in value.split(",")}
    if wanted and not wanted & {"*all", "*navigable"}:
        fields = {k: v for k, v in fields.items() if k in wanted}
    body = {"id": issue["id"], "key": issue["key"], "self": f"{site.base_url}{API}/issue/"
            f"{issue['id']}", "fields": fields}  # fmt: skip
    if "changelog" in {e for value in call.query.get("expand", []) for e in value.split(",")}:
        # Data Center has no paged `issue/{key}/changelog`: the history comes expanded.
        histories = issue["histories"]
        body["changelog"] = {"startAt": 0, "maxResults": len(histories),
                             "total": len(histories), "histories": histories}  # fmt: skip
    return 200, body, None


# --- comments ---------------------------------------------------------------------------------


def issue_fields(site: DcSite, issue: dict[str, Any]) -> dict[str, Any]:
    """The issue's fields as Jira answers them: as sent, with what Jira keeps itself."""
    project = site.projects[issue["key"].rsplit("-", 1)[0]]
    return {**issue["fields"], "created": issue["created"], "updated": issue["updated"],
            "status": {"name": issue["status"]},
            "project": {"id": project["id"], "key": project["key"], "name": project["name"]},
            }  # fmt: skip


def comment_json(site: DcSite, issue: dict[str, Any], comment: dict[str, Any]) -> dict[str, Any]:
    author = site.user_json(comment["author"])
    return {
        "self": f"{site.base_url}{API}/issue/{issue['id']}/comment/{comment['id']}",
        "id": comment["id"],
        "author": author,
        "body": comment["body"],
        "updateAuthor": author,
        "created": comment["created"],
        "updated": comment["created"],
    }


@route("POST", "/issue/{key}/comment", shapes.ADD_COMMENT)
def add_comment(site: DcSite, call: Call) -> Answer:
    issue = site.find_issue(call.params["key"])
    body = (call.json or {}).get("body")
    if not isinstance(body, str):
        raise JiraError(400, [], {"body": NOT_A_STRING})
    if not body.strip():
        raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
    properties = {p["key"]: p["value"] for p in (call.json or {}).get("properties") or []}
    comment = site.add_comment(issue, body, call.caller_id, properties)
    return 201, comment_json(site, issue, comment), shapes.COMMENT


@route("GET", "/issue/{key}/comment")
def get_comments(site: DcSite, call: Call) -> Answer:
    issue = site.find_issue(call.params["key"])
    expand = {e for value in call.query.get("expand", []) for e in value.split(",")}
    comments = []
    for comment in issue["comments"]:
        shown = comment_json(site, issue, comment)
        if "properties" in expand:
            shown["properties"] = [{"key": k, "value": v} for k, v in comment["properties"].items()]
        comments.append(shown)
    start = call.int_arg("startAt", 0)
    page = comments[start : start + call.int_arg("maxResults", 50)]
    body = {"startAt": start, "maxResults": len(page), "total": len(comments), "comments": page}
    return 200, body, {"type": "object", "properties": {"comments": {"items": shapes.COMMENT}}}


# --- attachments and properties -------------------------------------------------------------


def _attachment_json(site: DcSite, attachment: dict[str, Any]) -> dict[str, Any]:
    url = f"{site.base_url}/secure/attachment/{attachment['id']}/{attachment['filename']}"
    return {
        "self": f"{site.base_url}{API}/attachment/{attachment['id']}",
        "id": attachment["id"],
        "filename": attachment["filename"],
        "author": site.user_json(attachment["author"]),
        "created": attachment["created"],
        "size": len(attachment["bytes"]),
        "mimeType": attachment["mimeType"],
        "content": url,
    }


@route("POST", "/issue/{key}/attachments")
def add_attachments(site: DcSite, call: Call) -> Answer:
    if call.headers.get("x-atlassian-token", "").lower() != "no-check":
        raise JiraError(403, ["XSRF check failed"])
    issue = site.find_issue(call.params["key"])
    try:
        parts = parse_form_data(call.headers.get("content-type", ""), call.body)
    except MultipartError as exc:
        raise JiraError(400, [str(exc)]) from exc
    stored = []
    for part in (p for p in parts if p.name == "file" and p.filename is not None):
        attachment = {"id": site.next_id(), "filename": part.filename, "bytes": part.content,
                      "mimeType": part.content_type, "author": call.caller_id,
                      "created": jira_timestamp()}  # fmt: skip
        issue["attachments"].append(attachment)
        stored.append(_attachment_json(site, attachment))
    if not stored:
        raise JiraError(400, ["No file was attached in the 'file' form field."])
    return 200, stored, shapes.ATTACHMENTS


def _entity(site: DcSite, call: Call) -> dict[str, Any]:
    if "commentId" not in call.params:
        return site.find_issue(call.params["key"])
    for issue in site.issues.values():
        for comment in issue["comments"]:
            if comment["id"] == call.params["commentId"]:
                found: dict[str, Any] = comment
                return found
    raise JiraError(404, ["Can not find a comment for the id."])


@route("GET", "/issue/{key}/properties/{propertyKey}")
@route("GET", "/comment/{commentId}/properties/{propertyKey}")
def get_property(site: DcSite, call: Call) -> Answer:
    properties = _entity(site, call)["properties"]
    key = call.params["propertyKey"]
    if key not in properties:
        raise JiraError(404, [f"The property with key '{key}' does not exist."])
    return 200, {"key": key, "value": properties[key]}, None


@route("PUT", "/issue/{key}/properties/{propertyKey}")
@route("PUT", "/comment/{commentId}/properties/{propertyKey}")
def put_property(site: DcSite, call: Call) -> Answer:
    if not call.headers.get("content-type", "").startswith("application/json"):
        raise JiraError(415, ["Unsupported Media Type"])
    if len(call.body) > PROPERTY_VALUE_LIMIT:
        raise JiraError(400, ["The property value cannot be longer than 32768 bytes."])
    try:
        value = json.loads(call.body)
    except ValueError as exc:
        raise JiraError(400, ["The property value is not valid JSON."]) from exc
    properties = _entity(site, call)["properties"]
    created = call.params["propertyKey"] not in properties
    properties[call.params["propertyKey"]] = value
    return (201 if created else 200), None, None
