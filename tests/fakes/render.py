"""JSON shapes of the fake site's objects, as Jira Cloud REST v3 returns them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tests.fakes import catalogue as cat
from tests.fakes.site import Attachment, Comment, CustomField, Issue, IssueType, JiraSite, Project

FieldFilter = Callable[[str], bool]


def field_filter(requested: Iterable[str], *, default: str) -> FieldFilter:
    """Jira's `fields` selector: names, `*all`, `*navigable`, and `-name` to leave one out."""
    names = [n.strip() for item in requested for n in item.split(",") if n.strip()] or [default]
    excluded = {n[1:] for n in names if n.startswith("-")}
    included = {n for n in names if not n.startswith("-")}
    everything = bool(included & {"*all", "*navigable"})
    return lambda name: name not in excluded and (everything or name in included)


def avatar_urls(kind: str, ident: str) -> dict[str, str]:
    return {
        f"{size}x{size}": f"https://avatars.invalid/{kind}/{ident}?s={size}"
        for size in (48, 24, 16, 32)
    }


def user_json(
    site: JiraSite, account_id: str | None, *, full: bool = False
) -> dict[str, Any] | None:
    """A user as `GET /user` shows it (`full`), or as embedded in issues and comments."""
    if account_id is None:
        return None
    user = site.users.get(account_id)
    body: dict[str, Any] = {
        "self": f"{site.base_url}/rest/api/3/user?accountId={account_id}",
        "accountId": account_id,
        "accountType": user.account_type if user else "atlassian",
        "displayName": user.display_name if user else account_id,
        "active": user.active if user else True,
        "timeZone": "Etc/UTC",
        "avatarUrls": avatar_urls("user", account_id),
    }
    if full:
        body["locale"] = "en_US"
    # Jira Cloud leaves emailAddress out when the user's profile hides it.
    if user is not None and user.email_visible:
        body["emailAddress"] = user.email
    return body


def issue_type_json(site: JiraSite, issue_type: IssueType) -> dict[str, Any]:
    return {
        "self": f"{site.base_url}/rest/api/3/issuetype/{issue_type.id}",
        "id": issue_type.id,
        "name": issue_type.name,
        "description": "",
        "iconUrl": f"{site.base_url}/images/icons/issuetypes/{issue_type.id}.svg",
        "subtask": issue_type.name in ("Subtask", "Sub-task"),
        "hierarchyLevel": 0,
    }


def project_json(site: JiraSite, project: Project, *, full: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "self": f"{site.base_url}/rest/api/3/project/{project.id}",
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "projectTypeKey": project.type_key,
        "simplified": False,
        "avatarUrls": avatar_urls("project", project.id),
    }
    if full:
        body["style"] = "classic"
        body["isPrivate"] = False
        body["issueTypes"] = [issue_type_json(site, t) for t in project.issue_types]
    return body


def comment_json(
    site: JiraSite, issue: Issue, comment: Comment, *, with_properties: bool = False
) -> dict[str, Any]:
    author = user_json(site, comment.author_id)
    body: dict[str, Any] = {
        "self": f"{site.base_url}/rest/api/3/issue/{issue.id}/comment/{comment.id}",
        "id": comment.id,
        "author": author,
        "body": comment.body,
        "updateAuthor": author,
        "created": comment.created,
        "updated": comment.created,
        # JSM marks an internal note with this property; Jira answers it as jsdPublic false.
        "jsdPublic": not (comment.properties.get("sd.public.comment") or {}).get("internal"),
    }
    if comment.visibility is not None:
        body["visibility"] = comment.visibility
    if with_properties:
        body["properties"] = [{"key": k, "value": v} for k, v in comment.properties.items()]
    return body


def comments_page(
    site: JiraSite,
    issue: Issue,
    start_at: int = 0,
    max_results: int = 5000,
    *,
    with_properties: bool = False,
) -> dict[str, Any]:
    page = issue.comments[start_at : start_at + max_results]
    return {
        "startAt": start_at,
        "maxResults": max_results,
        "total": len(issue.comments),
        "comments": [comment_json(site, issue, c, with_properties=with_properties) for c in page],
    }


def attachment_json(site: JiraSite, attachment: Attachment) -> dict[str, Any]:
    return {
        "self": f"{site.base_url}/rest/api/3/attachment/{attachment.id}",
        "id": attachment.id,
        "filename": attachment.filename,
        "author": user_json(site, attachment.author_id),
        "created": attachment.created,
        "size": len(attachment.content),
        "mimeType": attachment.mime_type,
        "content": f"{site.base_url}/rest/api/3/attachment/content/{attachment.id}",
    }


def issue_fields(site: JiraSite, issue: Issue) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "summary": issue.fields.get("summary"),
        "description": None,
        "environment": None,
        "project": project_json(site, issue.project, full=False),
        "issuetype": issue_type_json(site, issue.issue_type),
        "reporter": user_json(site, issue.reporter_id),
        "creator": user_json(site, issue.creator_id),
        "assignee": None,
        "labels": [],
        "priority": {"id": cat.DEFAULT_PRIORITY_ID, "name": cat.PRIORITIES["3"]},
        "duedate": None,
        "status": {
            "id": "10000",
            "name": "To Do",
            "statusCategory": {"id": 2, "key": "new", "name": "To Do"},
        },
        "created": issue.created,
        "updated": issue.updated,
        "attachment": [attachment_json(site, a) for a in issue.attachments],
        "comment": comments_page(site, issue),
    }
    for custom_id in site.custom_fields:
        fields[custom_id] = None
    for name, value in issue.fields.items():
        if name == "assignee":
            fields[name] = user_json(site, value.get("accountId") if value else None)
        elif name == "priority" and value:
            priority_id = value.get("id") or next(
                k for k, v in cat.PRIORITIES.items() if v == value.get("name")
            )
            fields[name] = {"id": priority_id, "name": cat.PRIORITIES[priority_id]}
        elif name != "reporter":
            fields[name] = value
    return fields


def issue_json(
    site: JiraSite,
    issue: Issue,
    *,
    wanted: FieldFilter,
    properties: Iterable[str] = (),
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog",
        "id": issue.id,
        "self": f"{site.base_url}/rest/api/3/issue/{issue.id}",
        "key": issue.key,
        "fields": {k: v for k, v in issue_fields(site, issue).items() if wanted(k)},
    }
    keys = [k for item in properties for k in item.split(",") if k]
    if keys:
        want_all = "*all" in keys
        body["properties"] = {k: v for k, v in issue.properties.items() if want_all or k in keys}
    return body


def custom_schema(custom: CustomField) -> dict[str, Any]:
    schema_type, items, custom_type = cat.CUSTOM_FIELD_TYPES[custom.schema_type]
    schema: dict[str, Any] = {
        "type": schema_type,
        "custom": cat.CUSTOM_TYPE_PREFIX + custom_type,
        "customId": int(custom.id.removeprefix("customfield_")),
    }
    if items is not None:
        schema["items"] = items
    return schema


def field_list(site: JiraSite) -> list[dict[str, Any]]:
    fields = [
        {
            "id": field_id,
            "key": field_id,
            "name": name,
            "custom": False,
            "orderable": field_id in cat.SETTABLE_SYSTEM_FIELDS,
            "navigable": True,
            "searchable": True,
            "clauseNames": [field_id],
            "schema": schema,
        }
        for field_id, (name, schema) in cat.SYSTEM_FIELDS.items()
    ]
    for custom in site.custom_fields.values():
        number = custom.id.removeprefix("customfield_")
        fields.append(
            {
                "id": custom.id,
                "key": custom.id,
                "name": custom.name,
                "custom": True,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [f"cf[{number}]", custom.name],
                "schema": custom_schema(custom),
            }
        )
    return fields


def create_meta_fields(site: JiraSite, project: Project) -> list[dict[str, Any]]:
    """The create screen of `project` (the fake has one screen for all its issue types)."""
    entries: list[tuple[str, str, dict[str, Any]]] = [
        (field_id, *cat.SYSTEM_FIELDS[field_id]) for field_id in cat.CREATE_SCREEN_FIELDS
    ]
    # A required system field is on the screen even when the default screen lacks it.
    entries += [
        (field_id, *cat.SYSTEM_FIELDS[field_id])
        for field_id in project.required_fields
        if field_id in cat.SYSTEM_FIELDS and field_id not in cat.CREATE_SCREEN_FIELDS
    ]
    entries += [
        (custom.id, custom.name, custom_schema(custom))
        for custom in site.custom_fields.values()
        if custom.on_screen(project.key)
    ]
    required = cat.ALWAYS_REQUIRED | set(project.required_fields)
    return [
        {
            "fieldId": field_id,
            "key": field_id,
            "name": name,
            "required": field_id in required,
            "schema": schema,
            "hasDefaultValue": field_id in ("reporter", "priority"),
            "operations": ["add", "set", "remove"] if schema["type"] == "array" else ["set"],
        }
        for field_id, name, schema in entries
    ]


def paged(values: list[Any], start_at: int, max_results: int, name: str) -> dict[str, Any]:
    return {
        "maxResults": max_results,
        "startAt": start_at,
        "total": len(values),
        name: values[start_at : start_at + max_results],
    }
