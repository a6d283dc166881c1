"""REST resources of issues: create, read, edit, delete, comments, attachments, properties,
search."""

from __future__ import annotations

import mimetypes
from typing import Any

from tests.fakes import render
from tests.fakes.jql import JqlError, parse_jql
from tests.fakes.multipart import MultipartError, parse_form_data
from tests.fakes.routing import API, Call, Reply, Router
from tests.fakes.search import search_issues
from tests.fakes.site import Attachment, JiraError, JiraSite, jira_timestamp

router = Router()


# --- issues -----------------------------------------------------------------------------------


@router.route("POST", "/issue", body="json")
def create_issue(site: JiraSite, call: Call) -> Reply:
    issue = site.create_issue(call.json, call.caller_id)
    self_url = f"{site.base_url}{API}/issue/{issue.id}"
    return Reply(201, {"id": issue.id, "key": issue.key, "self": self_url})


@router.route("GET", "/issue/{issueIdOrKey}")
def get_issue(site: JiraSite, call: Call) -> Reply:
    issue = site.find_issue(call.params["issueIdOrKey"])
    wanted = render.field_filter(call.args("fields"), default="*all")
    body = render.issue_json(site, issue, wanted=wanted, properties=call.args("properties"))
    return Reply(200, body)


@router.route("PUT", "/issue/{issueIdOrKey}", body="json")
def edit_issue(site: JiraSite, call: Call) -> Reply:
    site.edit_issue(site.find_issue(call.params["issueIdOrKey"]), call.json)
    return Reply(204)


@router.route("DELETE", "/issue/{issueIdOrKey}")
def delete_issue(site: JiraSite, call: Call) -> Reply:
    del site.issues[site.find_issue(call.params["issueIdOrKey"]).id]
    return Reply(204)


# --- comments ---------------------------------------------------------------------------------


@router.route("POST", "/issue/{issueIdOrKey}/comment", body="json")
def add_comment(site: JiraSite, call: Call) -> Reply:
    issue = site.find_issue(call.params["issueIdOrKey"])
    # A principal the test gave explicit permissions (an impersonated user, say) needs
    # ADD_COMMENTS; the app and API-token users keep the site's defaults.
    if call.caller_id in site.permissions and not site.has_permission(
        call.caller_id, "ADD_COMMENTS"
    ):
        raise JiraError(403, ["You do not have the permission to comment on this issue."])
    comment = site.add_comment(issue, call.json, call.caller_id)
    return Reply(201, render.comment_json(site, issue, comment))


@router.route("GET", "/issue/{issueIdOrKey}/comment")
def get_comments(site: JiraSite, call: Call) -> Reply:
    issue = site.find_issue(call.params["issueIdOrKey"])
    start_at = call.int_arg("startAt", 0)
    max_results = min(call.int_arg("maxResults", 5000), 5000)
    expand = call.args("expand")
    with_properties = any("properties" in value.split(",") for value in expand)
    return Reply(
        200,
        render.comments_page(site, issue, start_at, max_results, with_properties=with_properties),
    )


@router.route("GET", "/issue/{issueIdOrKey}/comment/{id}")
def get_comment(site: JiraSite, call: Call) -> Reply:
    issue = site.find_issue(call.params["issueIdOrKey"])
    expand = call.args("expand")
    with_properties = any("properties" in value.split(",") for value in expand)
    for comment in issue.comments:
        if comment.id == call.params["id"]:
            return Reply(
                200, render.comment_json(site, issue, comment, with_properties=with_properties)
            )
    raise JiraError(404, [f"Can not find a comment for the id: {call.params['id']}."])


@router.route("GET", "/issue/{issueIdOrKey}/changelog")
def get_changelog(site: JiraSite, call: Call) -> Reply:
    issue = site.find_issue(call.params["issueIdOrKey"])
    start_at = call.int_arg("startAt", 0)
    max_results = min(call.int_arg("maxResults", 100), 100)
    values = [
        {
            "id": entry["id"],
            "author": render.user_json(site, entry["author_id"]),
            "created": entry["created"],
            "items": entry["items"],
        }
        for entry in issue.changelog
    ]
    page = render.paged(values, start_at, max_results, "values")
    page["isLast"] = start_at + max_results >= len(values)
    return Reply(200, page)


# --- attachments ------------------------------------------------------------------------------


@router.route("POST", "/issue/{issueIdOrKey}/attachments", body="raw")
def add_attachments(site: JiraSite, call: Call) -> Reply:
    # Jira refuses multipart posts without this header as a CSRF measure
    # (developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-attachments/).
    if call.headers.get("x-atlassian-token", "").lower() != "no-check":
        raise JiraError(403, ["XSRF check failed"])
    issue = site.find_issue(call.params["issueIdOrKey"])
    try:
        parts = parse_form_data(call.headers.get("content-type", ""), call.body)
    except MultipartError as exc:
        raise JiraError(400, [str(exc)]) from exc
    files = [p for p in parts if p.name == "file" and p.filename is not None]
    if not files:
        raise JiraError(400, ["No file was attached in the 'file' form field."])
    limit = site.attachment_max_bytes
    if limit is not None and any(len(p.content) > limit for p in files):
        raise JiraError(413, [f"The attachment is larger than the limit of {limit} bytes."])
    stored = []
    for part in files:
        mime_type = part.content_type
        if mime_type == "application/octet-stream":
            mime_type = mimetypes.guess_type(part.filename or "")[0] or mime_type
        attachment = Attachment(
            id=site.next_id(),
            issue_id=issue.id,
            filename=part.filename or "",
            mime_type=mime_type,
            content=part.content,
            author_id=call.caller_id,
            created=jira_timestamp(),
        )
        issue.attachments.append(attachment)
        stored.append(render.attachment_json(site, attachment))
    return Reply(200, stored)


@router.route("GET", "/attachment/{id}")
def get_attachment(site: JiraSite, call: Call) -> Reply:
    attachment = site.find_attachment(call.params["id"])
    body = render.attachment_json(site, attachment)
    # This resource (AttachmentMetadata) gives the id as a number, unlike the issue's
    # attachment list, and a full user as author.
    body["id"] = int(attachment.id)
    body["author"] = render.user_json(site, attachment.author_id, full=True)
    body["properties"] = {}
    return Reply(200, body)


@router.route("GET", "/attachment/content/{id}")
def get_attachment_content(site: JiraSite, call: Call) -> Reply:
    attachment = site.find_attachment(call.params["id"])
    return Reply(200, content=attachment.content, media_type=attachment.mime_type)


# --- entity properties ------------------------------------------------------------------------


@router.route("GET", "/issue/{issueIdOrKey}/properties")
def get_property_keys(site: JiraSite, call: Call) -> Reply:
    issue = site.find_issue(call.params["issueIdOrKey"])
    base = f"{site.base_url}{API}/issue/{issue.id}/properties"
    return Reply(200, {"keys": [{"key": k, "self": f"{base}/{k}"} for k in issue.properties]})


@router.route("GET", "/issue/{issueIdOrKey}/properties/{propertyKey}")
def get_property(site: JiraSite, call: Call) -> Reply:
    issue = site.find_issue(call.params["issueIdOrKey"])
    key = call.params["propertyKey"]
    if key not in issue.properties:
        raise JiraError(404, [f"The property with key '{key}' does not exist."])
    return Reply(200, {"key": key, "value": issue.properties[key]})


@router.route("PUT", "/issue/{issueIdOrKey}/properties/{propertyKey}", body="raw")
def put_property(site: JiraSite, call: Call) -> Reply:
    if not call.headers.get("content-type", "").lower().startswith("application/json"):
        raise JiraError(415, ["Unsupported Media Type: entity properties are JSON"])
    issue = site.find_issue(call.params["issueIdOrKey"])
    created = site.set_property(issue, call.params["propertyKey"], call.body)
    return Reply(201 if created else 200)


@router.route("DELETE", "/issue/{issueIdOrKey}/properties/{propertyKey}")
def delete_property(site: JiraSite, call: Call) -> Reply:
    issue = site.find_issue(call.params["issueIdOrKey"])
    if issue.properties.pop(call.params["propertyKey"], None) is None:
        raise JiraError(
            404, [f"The property with key '{call.params['propertyKey']}' does not exist."]
        )
    return Reply(204)


# --- search -----------------------------------------------------------------------------------


def _search(
    site: JiraSite,
    jql: str | None,
    fields: list[str],
    properties: list[str],
    max_results: int,
    page_token: str | None,
) -> Reply:
    try:
        found = search_issues(site, parse_jql(jql or ""))
    except JqlError as exc:
        raise JiraError(400, [str(exc)]) from exc
    try:
        start_at = int(page_token) if page_token else 0
    except ValueError as exc:
        raise JiraError(400, ["The nextPageToken is invalid."]) from exc
    max_results = max(1, min(max_results, 5000))
    page = found[start_at : start_at + max_results]
    wanted = render.field_filter(fields, default="id")
    body: dict[str, Any] = {
        "issues": [
            render.issue_json(site, issue, wanted=wanted, properties=properties) for issue in page
        ],
        "isLast": start_at + max_results >= len(found),
    }
    if not body["isLast"]:
        body["nextPageToken"] = str(start_at + max_results)
    return Reply(200, body)


@router.route("GET", "/search/jql")
def search_get(site: JiraSite, call: Call) -> Reply:
    return _search(
        site,
        call.arg("jql"),
        call.args("fields"),
        call.args("properties"),
        call.int_arg("maxResults", 50),
        call.arg("nextPageToken"),
    )


@router.route("POST", "/search/jql", body="json")
def search_post(site: JiraSite, call: Call) -> Reply:
    body = call.json
    return _search(
        site,
        body.get("jql"),
        list(body.get("fields") or []),
        list(body.get("properties") or []),
        int(body.get("maxResults") or 50),
        body.get("nextPageToken"),
    )
