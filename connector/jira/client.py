"""Typed client for what the engine needs from Jira, over an `httpx` session.

Jira Cloud (REST v3, ADF bodies) or Jira Data Center (REST v2, wiki markup bodies): the site's
`JiraSite.dialect` (`connector.jira.dialect`) says which; bodies are passed in as ADF either way.

Authentication comes from `connector.jira.auth` on the session, retries from
`RetryingSession`; failures surface as `JiraError` subclasses (`connector.jira.errors`)
carrying Jira's own messages.

No Jira library: every call is a plain REST call, so a library would add only a URL join.
atlassian-python-api's extras had to be turned off or worked around (its uncapped retries,
its error strings, its debug log of response bodies), and from its 5.x the Cloud client is a
class of its own, a choice our auth strategies already make. Without it our own calls need
one HTTP library, `httpx` (as Microsoft Graph, OAuth and the install keys use).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.jira.dialect import JiraDialect
from connector.jira.errors import JiraError, JiraNotFound
from connector.jira.transport import JiraTransport, dict_items, segment


@dataclass(frozen=True)
class CreatedIssue:
    id: str
    key: str


@dataclass(frozen=True)
class CreatedComment:
    id: str


@dataclass(frozen=True)
class Attachment:
    id: str
    filename: str
    size: int
    mime_type: str


@dataclass(frozen=True)
class JiraUser:
    account_id: str
    display_name: str
    email: str | None
    active: bool
    account_type: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)


class JiraClient(JiraTransport):
    """Jira's operations the engine uses, each a REST call through `JiraTransport`."""

    # -- reading -------------------------------------------------------------------------

    def server_info(self) -> dict[str, Any]:
        return self._get("serverInfo")

    def myself(self) -> dict[str, Any]:
        return self._get("myself")

    def get_project(self, project_key: str) -> dict[str, Any]:
        return self._get(f"project/{segment(project_key)}")

    def search_projects(self) -> list[dict[str, Any]]:
        """Every project the app can see, by key (`GET /rest/api/3/project/search`, paged;
        Data Center has only `GET /rest/api/2/project`, one list)."""
        if not self.dialect.paged_project_search:
            return sorted(self._get_list("project"), key=lambda p: str(p.get("key", "")))
        return list(self._paged("project/search", "values", params={"orderBy": "key"}))

    def get_issue(self, issue_key: str, fields: str = "*navigable") -> dict[str, Any]:
        return self._get(f"issue/{segment(issue_key)}", params={"fields": fields})

    def get_fields(self) -> list[dict[str, Any]]:
        return self._get_list("field")

    def get_create_issue_types(self, project_key: str) -> list[dict[str, Any]]:
        return list(
            self._paged(
                f"issue/createmeta/{segment(project_key)}/issuetypes",
                self.dialect.page_items("issueTypes"),
            )
        )

    def get_create_fields(self, project_key: str, issue_type_id: str) -> list[dict[str, Any]]:
        path = f"issue/createmeta/{segment(project_key)}/issuetypes/{segment(issue_type_id)}"
        return list(self._paged(path, self.dialect.page_items("fields")))

    def find_users(self, query: str, *, max_results: int = 10) -> list[JiraUser]:
        """Users whose email or name matches; email is visible only where the site allows."""
        params = self.dialect.user_search(query, max_results)
        found = self._request("GET", self._url("user/search"), params=params)
        return [_to_user(item, self.dialect) for item in dict_items(found)]

    def global_permissions(self, account_id: str, permissions: list[str]) -> set[str]:
        """Which of these global permissions the account holds (asked as the app, for any
        account: `POST /rest/api/3/permissions/check`). Jira Data Center has no such resource:
        there only the account itself can be asked (`my_permissions`)."""
        if not self.dialect.checks_others_permissions:
            raise JiraError(None, ["Jira Data Center says only the caller's own permissions"])
        body = {"accountId": account_id, "globalPermissions": permissions}
        answer = self._post("permissions/check", body)
        granted = answer.get("globalPermissions")
        if not isinstance(granted, list):
            raise JiraError(None, ["Jira's permission answer has no permission list"])
        return {str(item) for item in granted}

    def project_permissions(
        self, account_id: str, permissions: list[str], project_ids: list[int]
    ) -> set[str]:
        """Which of these permissions the account holds in all of these projects (asked as
        the app: `POST /rest/api/3/permissions/check` with `projectPermissions`)."""
        body = {
            "accountId": account_id,
            "projectPermissions": [{"permissions": permissions, "projects": project_ids}],
        }
        answer = self._post("permissions/check", body)
        granted = answer.get("projectPermissions")
        if not isinstance(granted, list):
            raise JiraError(None, ["Jira's permission answer has no project permission list"])
        wanted = set(project_ids)
        return {
            str(item.get("permission"))
            for item in granted
            if isinstance(item, dict) and wanted <= set(item.get("projects") or [])
        }

    def my_permissions(self, permissions: list[str]) -> set[str]:
        """Which of these permissions the caller (the app, or an API-token user) holds:
        `GET /rest/api/3/mypermissions`."""
        found = self._get("mypermissions", params={"permissions": ",".join(permissions)})
        held = found.get("permissions")
        if not isinstance(held, dict):
            raise JiraError(None, ["Jira's permission answer has no permission list"])
        return {
            str(key)
            for key, item in held.items()
            if isinstance(item, dict) and item.get("havePermission") is True
        }

    def get_issue_property(self, issue_key: str, property_key: str) -> Any | None:
        try:
            found = self._get(f"issue/{segment(issue_key)}/properties/{segment(property_key)}")
        except JiraNotFound:
            return None
        return found.get("value")

    def search_issues(
        self, jql: str, *, fields: str = "summary", max_results: int = 50
    ) -> list[dict[str, Any]]:
        found = self._get(
            self.dialect.search_path,
            params={"jql": jql, "fields": fields, "maxResults": max_results},
        )
        issues = found.get("issues", [])
        return [issue for issue in issues if isinstance(issue, dict)]

    # -- writing -------------------------------------------------------------------------

    def create_issue(
        self, fields: Mapping[str, Any], *, properties: Mapping[str, Any] | None = None
    ) -> CreatedIssue:
        """Create an issue; `properties` are set in the same call (no window without them)."""
        body: dict[str, Any] = {"fields": dict(fields)}
        if properties:
            body["properties"] = [{"key": k, "value": v} for k, v in properties.items()]
        created = self._post("issue", body)
        return CreatedIssue(id=str(created["id"]), key=str(created["key"]))

    def add_comment(
        self,
        issue_key: str,
        body_adf: Mapping[str, Any],
        *,
        properties: Mapping[str, Any] | None = None,
    ) -> CreatedComment:
        """Add a comment (`body_adf` as the site takes it); `properties` are stored on it in
        the same call."""
        body: dict[str, Any] = {"body": self.dialect.document(body_adf)}
        if properties:
            body["properties"] = [{"key": k, "value": v} for k, v in properties.items()]
        created = self._post(f"issue/{segment(issue_key)}/comment", body)
        return CreatedComment(id=str(created["id"]))

    def get_comments(
        self, issue_key: str, *, with_properties: bool = False
    ) -> list[dict[str, Any]]:
        params = {"expand": "properties"} if with_properties else None
        path = f"issue/{segment(issue_key)}/comment"
        return list(self._paged(path, "comments", params=params))

    def get_changelog(self, issue_key: str) -> list[dict[str, Any]]:
        """The issue's changes, oldest first (`GET /issue/{key}/changelog`, paged; Data
        Center has only the issue with `expand=changelog`)."""
        if self.dialect.paged_changelog:
            return list(self._paged(f"issue/{segment(issue_key)}/changelog", "values"))
        params = {"fields": "status", "expand": "changelog"}
        issue = self._get(f"issue/{segment(issue_key)}", params=params)
        changelog = issue.get("changelog")
        found = changelog.get("histories") if isinstance(changelog, dict) else None
        return dict_items(found)

    def get_comment(self, issue_key: str, comment_id: str) -> dict[str, Any]:
        """One comment with its properties: in ADF on Cloud (webhooks carry the body as wiki
        markup), as wiki markup with Jira's HTML of it (`renderedBody`) on Data Center."""
        path = f"issue/{segment(issue_key)}/comment/{segment(comment_id)}"
        return self._get(path, params={"expand": self.dialect.comment_expand})

    def add_attachment(
        self, issue_key: str, filename: str, content: bytes, content_type: str
    ) -> list[Attachment]:
        url = self._url(f"issue/{segment(issue_key)}/attachments")
        # Jira refuses multipart uploads without this header (XSRF protection).
        headers = {"X-Atlassian-Token": "no-check", "Accept": "application/json"}
        files = {"file": (filename, content, content_type)}
        found = self._request("POST", url, headers=headers, files=files)
        return [
            Attachment(
                id=str(item.get("id")),
                filename=str(item.get("filename")),
                size=int(item.get("size") or 0),
                mime_type=str(item.get("mimeType") or content_type),
            )
            for item in dict_items(found)
        ]

    def create_custom_field(
        self, name: str, type_key: str, *, searcher_key: str, description: str = ""
    ) -> dict[str, Any]:
        """`POST /rest/api/3/field` (needs the Administer Jira permission)."""
        body = {
            "name": name,
            "type": type_key,
            "searcherKey": searcher_key,
            "description": description,
        }
        return self._post("field", body)

    # -- Jira Service Management (/rest/servicedeskapi) ---------------------------------

    def create_customer(self, email: str, display_name: str) -> JiraUser:
        """`POST /rest/servicedeskapi/customer`; with `strictConflictStatusCode` an existing
        customer is a 409 rather than a 400 that reads like a bad address."""
        url = self._site_url("rest/servicedeskapi/customer")
        body = self.dialect.new_customer(email, display_name)
        params = {"strictConflictStatusCode": "true"}
        found = self._request("POST", url, json=body, params=params)
        if not isinstance(found, dict):
            raise JiraError(None, ["unexpected answer to POST /servicedeskapi/customer"])
        return _to_user({**found, "accountType": "customer"}, self.dialect)

    def add_request_participants(self, issue_key: str, account_ids: list[str]) -> None:
        """`POST /rest/servicedeskapi/request/{issueIdOrKey}/participant`."""
        url = self._site_url(f"rest/servicedeskapi/request/{segment(issue_key)}/participant")
        self._request("POST", url, json=self.dialect.participants(account_ids))

    def set_issue_property(self, issue_key: str, property_key: str, value: Any) -> None:
        url = self._url(f"issue/{segment(issue_key)}/properties/{segment(property_key)}")
        self._request("PUT", url, json=value)

    def set_comment_property(self, comment_id: str, property_key: str, value: Any) -> None:
        url = self._url(f"comment/{segment(comment_id)}/properties/{segment(property_key)}")
        self._request("PUT", url, json=value)


def _to_user(item: Mapping[str, Any], dialect: JiraDialect) -> JiraUser:
    account_id, account_type = dialect.user_identity(item)
    return JiraUser(
        account_id=account_id,
        display_name=str(item.get("displayName", "")),
        email=item.get("emailAddress") if isinstance(item.get("emailAddress"), str) else None,
        active=bool(item.get("active", True)),
        account_type=account_type,
        raw=item,
    )
