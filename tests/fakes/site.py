"""In-memory state of the fake Jira site and the rules Jira applies when it changes.

Not thread-safe by itself: `FakeJira` holds one lock around every call into a `JiraSite`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes import catalogue as cat


class JiraError(Exception):
    """An error answer in Jira's ErrorCollection shape."""

    def __init__(
        self,
        status: int,
        messages: Iterable[str] = (),
        errors: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})
        super().__init__(f"{status}: {self.messages} {self.errors}")

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


def jira_timestamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str


@dataclass
class Project:
    id: str
    key: str
    name: str
    issue_types: list[IssueType]
    required_fields: tuple[str, ...]
    next_number: int = 1
    # "software", "business", or "service_desk" (a Jira Service Management project).
    type_key: str = "software"


@dataclass
class User:
    account_id: str
    email: str
    display_name: str
    active: bool = True
    account_type: str = "atlassian"
    email_visible: bool = True


@dataclass(frozen=True)
class CustomField:
    id: str
    name: str
    schema_type: str
    # None: on every project's create screen.
    projects: frozenset[str] | None

    def on_screen(self, project_key: str) -> bool:
        return self.projects is None or project_key in self.projects


@dataclass
class Comment:
    id: str
    body: Any
    author_id: str
    created: str
    visibility: Any = None
    # Comment entity properties set at creation (`properties` in the POST body).
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class Attachment:
    id: str
    issue_id: str
    filename: str
    mime_type: str
    content: bytes
    author_id: str
    created: str


@dataclass
class Issue:
    id: str
    key: str
    project: Project
    issue_type: IssueType
    fields: dict[str, Any]
    reporter_id: str | None
    creator_id: str
    created: str
    updated: str
    comments: list[Comment] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    # JSM request participants (account ids), for issues of service_desk projects.
    participants: list[str] = field(default_factory=list)
    # Changes as `GET /issue/{key}/changelog` shows them (status transitions, for now).
    changelog: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class JiraSite:
    """Everything the REST API reads and writes."""

    base_url: str = ""
    projects: dict[str, Project] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    custom_fields: dict[str, CustomField] = field(default_factory=dict)
    issues: dict[str, Issue] = field(default_factory=dict)
    # None stands for "the calling app or API-token principal".
    permissions: dict[str | None, frozenset[str]] = field(
        default_factory=lambda: {None: cat.DEFAULT_PERMISSIONS}
    )
    # (property key, object path) pairs the installed descriptor indexes, plus their aliases;
    # None until a descriptor is known, and then JQL on anything else is refused as Jira does.
    indexed_properties: set[tuple[str, str]] | None = None
    property_aliases: dict[str, tuple[str, str]] = field(default_factory=dict)
    attachment_max_bytes: int | None = None
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(10000))
    _issue_type_ids: dict[str, str] = field(default_factory=dict)

    def next_id(self) -> str:
        return str(next(self._ids))

    # --- seeding ------------------------------------------------------------------------------

    def add_project(
        self,
        key: str,
        name: str,
        issue_types: Iterable[str],
        required_fields: Iterable[str],
        type_key: str = "software",
    ) -> Project:
        if key.upper() in self.projects:
            raise ValueError(f"project {key} exists already")
        types = [IssueType(self._issue_type_id(type_name), type_name) for type_name in issue_types]
        project = Project(
            self.next_id(), key.upper(), name, types, tuple(required_fields), type_key=type_key
        )
        self.projects[project.key] = project
        return project

    def _issue_type_id(self, name: str) -> str:
        if name in cat.WELL_KNOWN_ISSUE_TYPE_IDS:
            return cat.WELL_KNOWN_ISSUE_TYPE_IDS[name]
        return self._issue_type_ids.setdefault(name, str(10100 + len(self._issue_type_ids)))

    def add_custom_field(
        self, name: str, schema_type: str, projects: Iterable[str] | None
    ) -> CustomField:
        if schema_type not in cat.CUSTOM_FIELD_TYPES:
            raise ValueError(f"schema_type must be one of {sorted(cat.CUSTOM_FIELD_TYPES)}")
        field_id = f"customfield_{10030 + len(self.custom_fields)}"
        scope = None if projects is None else frozenset(key.upper() for key in projects)
        custom = CustomField(field_id, name, schema_type, scope)
        self.custom_fields[field_id] = custom
        return custom

    # --- lookups ------------------------------------------------------------------------------

    def find_project(self, id_or_key: str) -> Project:
        for project in self.projects.values():
            if id_or_key.upper() == project.key or id_or_key == project.id:
                return project
        raise JiraError(404, [f"No project could be found with key '{id_or_key}'."])

    def find_issue(self, id_or_key: str) -> Issue:
        issue = self.issues.get(id_or_key)
        if issue is None:
            wanted = id_or_key.upper()
            issue = next((i for i in self.issues.values() if i.key == wanted), None)
        if issue is None:
            raise JiraError(404, [cat.ISSUE_NOT_FOUND])
        return issue

    def find_attachment(self, attachment_id: str) -> Attachment:
        for issue in self.issues.values():
            for attachment in issue.attachments:
                if attachment.id == attachment_id:
                    return attachment
        raise JiraError(404, [f"The attachment with id '{attachment_id}' does not exist"])

    def user_by_email(self, email: str) -> User | None:
        wanted = email.casefold()
        return next((u for u in self.users.values() if u.email.casefold() == wanted), None)

    def has_permission(self, account_id: str | None, key: str) -> bool:
        held = self.permissions.get(account_id)
        if held is None:
            held = frozenset() if account_id is not None else cat.DEFAULT_PERMISSIONS
        return key in held

    # --- issues -------------------------------------------------------------------------------

    def create_issue(self, body: Mapping[str, Any], caller_id: str) -> Issue:
        fields = body.get("fields") or {}
        errors: dict[str, str] = {}
        project = self._project_from(fields.get("project"), errors)
        issue_type = self._issue_type_from(project, fields.get("issuetype"), errors)
        stored = self._checked_fields(fields, project, errors)
        if "summary" not in errors and not str(fields.get("summary") or "").strip():
            errors["summary"] = "You must specify a summary of the issue."
        for required in project.required_fields if project is not None else ():
            if stored.get(required) in (None, "", [], {}):
                errors.setdefault(required, f"{self.field_name(required)} is required.")
        properties = list(body.get("properties") or [])
        if any(not isinstance(p, dict) or not p.get("key") for p in properties):
            errors["properties"] = "Every issue property needs a key."
        if errors or project is None or issue_type is None:
            raise JiraError(400, [], errors)
        reporter_id = account_id_of(fields.get("reporter")) if "reporter" in fields else caller_id
        now = jira_timestamp()
        issue = Issue(
            id=self.next_id(),
            key=f"{project.key}-{project.next_number}",
            project=project,
            issue_type=issue_type,
            fields=stored,
            reporter_id=reporter_id,
            creator_id=caller_id,
            created=now,
            updated=now,
        )
        project.next_number += 1
        issue.properties.update({str(p["key"]): p.get("value") for p in properties})
        self.issues[issue.id] = issue
        return issue

    def edit_issue(self, issue: Issue, body: Mapping[str, Any]) -> None:
        fields = dict(body.get("fields") or {})
        for name, operations in (body.get("update") or {}).items():
            current = list(issue.fields.get(name) or []) if name == "labels" else None
            for operation in operations:
                if "set" in operation:
                    fields[name] = operation["set"]
                elif current is not None and "add" in operation:
                    fields[name] = current = [*current, operation["add"]]
                elif current is not None and "remove" in operation:
                    fields[name] = current = [v for v in current if v != operation["remove"]]
        for fixed in ("project", "issuetype"):
            if fixed in fields:
                raise JiraError(400, [], {fixed: f"Field '{fixed}' cannot be changed here."})
        errors: dict[str, str] = {}
        stored = self._checked_fields(fields, issue.project, errors)
        if "summary" in fields and not str(fields["summary"] or "").strip():
            errors["summary"] = "You must specify a summary of the issue."
        if errors:
            raise JiraError(400, [], errors)
        if "reporter" in fields:
            issue.reporter_id = account_id_of(fields["reporter"])
        issue.fields.update(stored)
        issue.updated = jira_timestamp()

    def change_status(self, issue: Issue, status: str, author_id: str) -> dict[str, Any]:
        """Move the issue to `status` as `author_id` did in Jira: a changelog entry."""
        before = (issue.fields.get("status") or {}).get("name", "To Do")
        now = jira_timestamp()
        entry = {
            "id": str(10000 + sum(len(i.changelog) for i in self.issues.values())),
            "author_id": author_id,
            "created": now,
            "items": [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "fieldId": "status",
                    "from": "10000",
                    "fromString": before,
                    "to": "10001",
                    "toString": status,
                }
            ],
        }
        issue.changelog.append(entry)
        issue.fields["status"] = {
            "id": "10001",
            "name": status,
            "statusCategory": {"id": 3, "key": "done", "name": "Done"},
        }
        issue.updated = now
        return entry

    def _project_from(self, value: Any, errors: dict[str, str]) -> Project | None:
        wanted = (value.get("key") or value.get("id")) if isinstance(value, dict) else None
        if wanted:
            try:
                return self.find_project(str(wanted))
            except JiraError:
                pass
        errors["project"] = "Specify a valid project ID or key"
        return None

    def _issue_type_from(
        self, project: Project | None, value: Any, errors: dict[str, str]
    ) -> IssueType | None:
        if not isinstance(value, dict) or not (value.get("id") or value.get("name")):
            errors["issuetype"] = "Specify an issue type"
            return None
        if project is None:
            return None
        for issue_type in project.issue_types:
            if value.get("id") == issue_type.id or value.get("name") == issue_type.name:
                return issue_type
        errors["issuetype"] = "Specify a valid issue type"
        return None

    def _checked_fields(
        self, fields: Mapping[str, Any], project: Project | None, errors: dict[str, str]
    ) -> dict[str, Any]:
        """Values to store, after the per-field checks Jira makes; problems go into `errors`."""
        stored: dict[str, Any] = {}
        for name, value in fields.items():
            if name in ("project", "issuetype"):
                continue
            problem = self._field_problem(name, value, project)
            if problem:
                errors[name] = problem
            else:
                stored[name] = value
        return stored

    def _field_problem(self, name: str, value: Any, project: Project | None) -> str | None:
        if name in cat.SETTABLE_SYSTEM_FIELDS:
            return self._system_field_problem(name, value)
        custom = self.custom_fields.get(name)
        if custom is None or (project is not None and not custom.on_screen(project.key)):
            return f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        if value is None:
            return None
        return _custom_value_problem(custom, value, self.users)

    def _system_field_problem(self, name: str, value: Any) -> str | None:
        if name == "summary":
            if not isinstance(value, str):
                return "Operation value must be a string"
            return "Summary must be less than 255 characters." if len(value) > 255 else None
        if name in cat.ADF_SYSTEM_FIELDS and value is not None:
            return _adf_problem(value)
        if name in ("reporter", "assignee") and value is not None:
            user = self.users.get(account_id_of(value) or "")
            if user is None or not user.active:
                return f"Specify a valid value for {name}"
        if name == "labels":
            return _labels_problem(value)
        if name == "priority" and value is not None:
            known = isinstance(value, dict) and (
                value.get("id") in cat.PRIORITIES or value.get("name") in cat.PRIORITIES.values()
            )
            return None if known else "Specify a valid priority"
        return None

    def field_name(self, field_id: str) -> str:
        if field_id in self.custom_fields:
            return self.custom_fields[field_id].name
        return cat.SYSTEM_FIELDS.get(field_id, (field_id, {}))[0]

    # --- comments and properties --------------------------------------------------------------

    def add_comment(self, issue: Issue, body: Mapping[str, Any], author_id: str) -> Comment:
        if body.get("body") is None:
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        problem = _adf_problem(body["body"])
        if problem:
            raise JiraError(400, [], {"comment": problem})
        comment = Comment(
            self.next_id(),
            body["body"],
            author_id,
            jira_timestamp(),
            body.get("visibility"),
            {str(p["key"]): p.get("value") for p in body.get("properties") or []},
        )
        issue.comments.append(comment)
        issue.updated = comment.created
        return comment

    def set_property(self, issue: Issue, key: str, raw_value: bytes) -> bool:
        """Store a property; True when it is new (Jira answers 201 then, 200 on update)."""
        if len(key) > 255:
            raise JiraError(400, ["The property key cannot be longer than 255 characters."])
        if not raw_value.strip():
            raise JiraError(400, ["The property value cannot be empty."])
        if len(raw_value) > cat.PROPERTY_VALUE_LIMIT:
            raise JiraError(400, ["The property value cannot be longer than 32768 bytes."])
        try:
            value = json.loads(raw_value)
        except ValueError as exc:
            raise JiraError(400, [f"The property value is not valid JSON: {exc}"]) from exc
        created = key not in issue.properties
        issue.properties[key] = value
        return created


def account_id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        found = value.get("accountId") or value.get("id")
        return str(found) if found else None
    return None


def _adf_problem(value: Any) -> str | None:
    # Shape errors inside the document are reported by the ADF schema before this runs.
    if not isinstance(value, dict) or value.get("type") != "doc":
        return cat.NOT_ADF
    if jira_length(value) > cat.TEXT_FIELD_LIMIT:
        return cat.TOO_LONG
    return None


def jira_length(document: Any) -> int:
    """How Jira Cloud is taken to count an ADF field against its limit: the whole serialized
    document (compact JSON, non-ASCII as characters) in UTF-16 code units. Atlassian documents
    only the number; the counting is a third party's account (bitovi/cascade-mcp,
    specs/10-large-jira-descriptions.md), unconfirmed. Written out here, not imported from the
    app, so the fake checks the app rather than agreeing with it by construction."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _labels_problem(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "Operation value must be a list of strings"
    for label in value:
        if not label or any(ch.isspace() for ch in label):
            return f"The label '{label}' contains spaces which is invalid."
        if len(label) > 255:
            return "The label must not exceed 255 characters."
    return None


def _custom_value_problem(custom: CustomField, value: Any, users: Mapping[str, User]) -> str | None:
    kind = custom.schema_type
    if kind == "textarea":
        return _adf_problem(value)
    if kind in ("string", "url", "date", "datetime"):
        if not isinstance(value, str):
            return "Operation value must be a string"
        too_long = f"{custom.name} must be less than 255 characters."
        return too_long if len(value) > 255 else None
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "Operation value must be a number"
    if kind == "option":
        ok = isinstance(value, dict) and ("value" in value or "id" in value)
        return None if ok else f"Specify a valid 'id' or 'name' for {custom.name}"
    if kind == "user":
        return None if account_id_of(value) in users else f"Specify a valid value for {custom.name}"
    return _labels_problem(value)
