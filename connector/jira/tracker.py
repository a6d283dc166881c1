"""`IssueTracker` over the Jira REST client: what the pipeline needs, in Jira's terms.

The Message-ID digest is stamped as an issue property (indexed by the descriptor's
`jiraEntityProperties`, so JQL finds it) and as a comment property, in the same call that
creates the issue or comment: a crash between Jira's answer and our commit is healed by a
lookup on the next attempt, not by a duplicate.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from connector.drafts import CommentDraft, IssueDraft, IssueInfo, JiraPerson
from connector.jira.client import JiraClient, JiraNotFound
from connector.mail.inbound import MailAttachment

DIGEST_FIELD = "messageIdDigest"
_USER_CACHE_SECONDS = 300.0


class JiraTracker:
    def __init__(self, client: JiraClient, *, property_key: str) -> None:
        self._client = client
        self._property_key = property_key
        self._people: dict[str, tuple[float, JiraPerson | None]] = {}
        self._lock = threading.Lock()

    def issue_info(self, issue_key: str) -> IssueInfo | None:
        try:
            issue = self._client.get_issue(issue_key, fields="project,issuetype")
        except JiraNotFound:
            return None
        fields: dict[str, Any] = issue.get("fields") or {}
        return IssueInfo(
            key=str(issue.get("key", issue_key)),
            project_key=str((fields.get("project") or {}).get("key", "")),
            issue_type=str((fields.get("issuetype") or {}).get("name", "")),
        )

    def find_person(self, address: str) -> JiraPerson | None:
        """The active Jira user with exactly this address, cached briefly (DESIGN.md)."""
        wanted = address.strip().lower()
        now = time.monotonic()
        with self._lock:
            cached = self._people.get(wanted)
            if cached is not None and cached[0] > now:
                return cached[1]
        found = None
        for user in self._client.find_users(wanted, max_results=10):
            if (
                user.active
                and user.account_type == "atlassian"
                and ((user.email or "").lower() == wanted)
            ):
                found = JiraPerson(user.account_id, user.display_name)
                break
        with self._lock:
            if len(self._people) > 10_000:
                self._people.clear()
            self._people[wanted] = (now + _USER_CACHE_SECONDS, found)
        return found

    def find_issue_by_digest(self, digest: str) -> str | None:
        jql = f'issue.property[{self._property_key}].{DIGEST_FIELD} = "{digest}"'
        issues = self._client.search_issues(jql, fields="summary", max_results=1)
        return str(issues[0]["key"]) if issues else None

    def find_comment_by_digest(self, issue_key: str, digest: str) -> str | None:
        for comment in self._client.get_comments(issue_key, with_properties=True):
            for prop in comment.get("properties") or []:
                value = prop.get("value") if isinstance(prop, dict) else None
                if (
                    prop.get("key") == self._property_key
                    and isinstance(value, dict)
                    and value.get(DIGEST_FIELD) == digest
                ):
                    return str(comment.get("id"))
        return None

    def create_issue(self, draft: IssueDraft) -> str:
        fields: dict[str, Any] = {
            "project": {"key": draft.project_key},
            "issuetype": {"name": draft.issue_type},
            "summary": draft.summary,
            "description": dict(draft.description),
        }
        if draft.reporter_account_id:
            fields["reporter"] = {"id": draft.reporter_account_id}
        if draft.assignee_account_id:
            fields["assignee"] = {"id": draft.assignee_account_id}
        if draft.labels:
            fields["labels"] = list(draft.labels)
        if draft.priority:
            fields["priority"] = {"name": draft.priority}
        fields.update(draft.custom_fields)
        created = self._client.create_issue(
            fields, properties={self._property_key: {DIGEST_FIELD: draft.message_digest}}
        )
        return created.key

    def add_comment(self, draft: CommentDraft) -> str:
        created = self._client.add_comment(
            draft.issue_key,
            draft.body,
            properties={self._property_key: {DIGEST_FIELD: draft.message_digest}},
        )
        return created.id

    def attachment_names(self, issue_key: str) -> set[tuple[str, int]]:
        issue = self._client.get_issue(issue_key, fields="attachment")
        attachments = (issue.get("fields") or {}).get("attachment") or []
        return {(str(a.get("filename")), int(a.get("size") or 0)) for a in attachments}

    def attach(self, issue_key: str, attachment: MailAttachment) -> None:
        self._client.add_attachment(
            issue_key, attachment.filename, attachment.content, attachment.content_type
        )
