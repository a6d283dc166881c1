"""How one Jira speaks: Jira Cloud (REST v3, ADF) or Jira Data Center (REST v2, wiki markup).

`JiraClient` and `JiraTracker` talk to every Jira the same way and ask the site's dialect
(`JiraSite.dialect`, Cloud unless a site says otherwise) only where the two differ:

| what                       | Cloud (`CLOUD`)                 | Data Center (`DATA_CENTER`)      |
| -------------------------- | ------------------------------- | -------------------------------- |
| platform REST path         | `rest/api/3`                    | `rest/api/2`                     |
| description, comment body, | the ADF document                | wiki markup rendered from it     |
| paragraph custom fields    |                                 | (`connector.jira.wiki`)          |
| a user in a field          | `{"id": accountId}`             | `{"name": username}`             |
| an admin's field default   | user `{"accountId"}` or `{"id"}`| user `{"name"}`; a paragraph     |
|                            | paragraph: text or ADF          | field: text only                 |
| user search                | `user/search?query=`            | `user/search?username=` (name,   |
|                            |                                 | display name or address)         |
| a user's identity          | `accountId`, `accountType`      | `name` (the username), no type   |
| JQL search                 | `search/jql`                    | `search`                         |
| projects                   | `project/search` (paged)        | `project` (one list)             |
| JSM request participants   | `{"accountIds": [...]}`         | `{"usernames": [...]}`           |
| JSM new customer           | `{"email", "displayName"}`      | `{"email", "fullName"}`          |
| create metadata pages      | `issueTypes` / `fields`         | `values` (both resources)        |
| an issue's changelog       | `issue/{key}/changelog` (paged) | `issue/{key}?expand=changelog`   |
| one comment, to mail it    | `expand=properties` (ADF body)  | also `renderedBody` (Jira's HTML |
|                            |                                 | of the wiki markup)              |

Jira Data Center has no account ids: a user is named by `name` (the username, which an admin
can rename) or `key` (stable across renames). The pipeline's
`JiraPerson.account_id` holds the username on a Data Center site, because that is what
fields and mentions (`[~username]`) take; the key stays in `JiraUser.raw`.
Data Center facts are from its REST reference (docs.atlassian.com/software/jira/docs/api/
REST/9.12.0 and the 10.x references); attachments need `X-Atlassian-Token: no-check` on both.
Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connector.jira.adf import JIRA_TEXT_LIMIT, text_to_adf
from connector.jira.wiki import adf_to_wiki


class JiraDialect:
    """What differs between Jira deployments, as the client and tracker need it."""

    name = "cloud"
    api_path = "rest/api/3"
    search_path = "search/jql"
    paged_project_search = True
    paged_changelog = True
    # Keys a user object given as a field value may name the user by; whether paragraph
    # fields take an ADF document.
    user_value_keys: tuple[str, ...] = ("accountId", "id")
    takes_adf = True
    # Whether `permissions/check` answers for any account (Data Center: `mypermissions` only).
    checks_others_permissions = True
    # What `GET issue/{key}/comment/{id}` expands to read a comment for a notification.
    comment_expand = "properties"

    def document(self, adf: Mapping[str, Any]) -> Any:
        """A description or comment body (an ADF document) as this Jira takes it."""
        return dict(adf)

    def rich_text(self, text: str) -> Any:
        """Plain text for a paragraph (textarea) field."""
        return self.document(text_to_adf(text))

    def user_field(self, user_id: str) -> dict[str, str]:
        """A user as a field value (reporter, assignee, user pickers)."""
        return {"id": user_id}

    def user_search(self, query: str, max_results: int) -> dict[str, Any]:
        """Query parameters of `GET user/search` for users matching `query` (an address)."""
        return {"query": query, "maxResults": max_results}

    def user_identity(self, raw: Mapping[str, Any]) -> tuple[str, str]:
        """(id, account type) of a user as Jira answers it; the id is what `user_field` and
        mentions take."""
        return str(raw.get("accountId", "")), str(raw.get("accountType", "atlassian"))

    def participants(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        """The body adding JSM request participants."""
        return {"accountIds": list(user_ids)}

    def new_customer(self, email: str, display_name: str) -> dict[str, str]:
        """The body of `POST /rest/servicedeskapi/customer`."""
        return {"email": email, "displayName": display_name}

    def page_items(self, cloud_key: str) -> str:
        """Where a page of `issue/createmeta/{project}/issuetypes[/{id}]` keeps its items,
        named by the key Cloud uses (`issueTypes`, `fields`)."""
        return cloud_key


class DataCenterDialect(JiraDialect):
    """Jira Data Center 9.12 and 10.x (and Jira Server of the same REST API)."""

    name = "datacenter"
    api_path = "rest/api/2"
    search_path = "search"
    paged_project_search = False
    paged_changelog = False
    user_value_keys = ("name",)
    takes_adf = False
    checks_others_permissions = False
    # The body is wiki markup: Jira's own rendering of it is what the mail shows.
    comment_expand = "properties,renderedBody"

    def document(self, adf: Mapping[str, Any]) -> Any:
        return adf_to_wiki(adf, max_chars=JIRA_TEXT_LIMIT)

    def user_field(self, user_id: str) -> dict[str, str]:
        return {"name": user_id}

    def user_search(self, query: str, max_results: int) -> dict[str, Any]:
        # Data Center 9.x and 10.x match `username` against name, display name and address.
        return {"username": query, "maxResults": max_results}

    def user_identity(self, raw: Mapping[str, Any]) -> tuple[str, str]:
        # Data Center does not tell licensed users from JSM customers in a user search: every
        # user found is a directory user, reported as "atlassian" like a Cloud user.
        return str(raw.get("name", "")), "atlassian"

    def participants(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        return {"usernames": list(user_ids)}

    def new_customer(self, email: str, display_name: str) -> dict[str, str]:
        return {"email": email, "fullName": display_name}

    def page_items(self, cloud_key: str) -> str:
        # Data Center (8.4 and later) pages create metadata as a generic page of `values`.
        return "values"


CLOUD = JiraDialect()
DATA_CENTER = DataCenterDialect()
