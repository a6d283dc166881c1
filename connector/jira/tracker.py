"""`IssueTracker` over the Jira REST client: what the pipeline needs, in Jira's terms.

The Message-ID digest is stamped as an issue property (indexed by the descriptor's
`jiraEntityProperties`, so JQL finds it) and as a comment property, in the same call that
creates the issue or comment: a crash between Jira's answer and our commit is healed by a
lookup on the next attempt, not by a duplicate. On a site without the app installed nothing
indexes that property; issues there also carry a marker label to be found by
(`connector.jira.markers`). Comments are found by their property without any index.

Users are looked up by address with `user_client` when one is given (the tenant's workaround
user, whose API token may see addresses the app cannot), else as the app; answers are kept in
the tenant's `TenantPeople` cache, shared by every poll. The same class is the `ServiceDesk`
port for Jira Service Management projects.

Jira Cloud or Jira Data Center: bodies, user fields and user searches go through the client's
`JiraDialect` (`connector.jira.dialect`), so drafts stay ADF and account ids (usernames on
Data Center) whichever Jira the site is.

A reply from a Jira user is commented as that user through `user_clients` where the site
allows it (`connector.jira.impersonation`); when it does not, the app writes the comment with
the line naming the sender and says why. Either way the digest property goes with the comment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from connector import logs
from connector.drafts import AddedComment, CommentDraft, IssueDraft, IssueInfo, JiraPerson
from connector.jira.client import CreatedComment, JiraClient, JiraUser
from connector.jira.errors import JiraAuthError, JiraError, JiraNotFound
from connector.jira.fields import custom_type, index_fields, is_rich_text
from connector.jira.impersonation import ImpersonationRefused, UserClients
from connector.jira.markers import find_marked_issue, marker_label
from connector.jira.people import PeopleCache, TenantPeople
from connector.mail.inbound import MailAttachment

log = logging.getLogger(__name__)

DIGEST_FIELD = "messageIdDigest"
# Characters a short text custom field keeps in Jira Cloud.
SHORT_TEXT_LIMIT = 255
SERVICE_DESK_TYPE = "service_desk"


class JiraTracker:
    def __init__(
        self,
        client: JiraClient,
        *,
        property_key: str,
        people: TenantPeople | None = None,
        user_client: JiraClient | None = None,
        user_clients: UserClients | None = None,
        marker_labels: bool = False,
    ) -> None:
        """`marker_labels`: the site does not index our issue property (no app install):
        issues carry a label to be found by instead (`connector.jira.markers`)."""
        self._client = client
        self._marker_labels = marker_labels
        self._property_key = property_key
        self._people = people or PeopleCache().for_tenant(0)
        self._user_client = user_client
        self._user_clients = user_clients
        self._lock = threading.Lock()
        self._project_types: dict[str, str] = {}
        self._text_kinds: tuple[frozenset[str], frozenset[str]] | None = None

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
        """The active Jira user (not a JSM customer) with exactly this address."""
        wanted = address.strip().lower()
        known, person = self._people.lookup("user", wanted)
        if known:
            return person
        found = next(
            (
                JiraPerson(user.account_id, user.display_name)
                for user in self._search_users(wanted)
                if user.account_type == "atlassian" and _same_address(user, wanted)
            ),
            None,
        )
        self._people.remember("user", wanted, found)
        return found

    def _search_users(self, address: str) -> list[JiraUser]:
        """Search with the workaround user's credentials when set; when Jira refuses them
        (token revoked, account deactivated) fall back to the app, which may still see the
        address on sites that show it, rather than failing the message."""
        if self._user_client is not None:
            try:
                return self._user_client.find_users(address, max_results=10)
            except JiraAuthError as exc:
                logs.event(log, "jira.workaround_user_refused", logging.WARNING, status=exc.status)
        return self._client.find_users(address, max_results=10)

    def find_issue_by_digest(self, digest: str) -> str | None:
        if self._marker_labels:
            return find_marked_issue(
                self._client, digest, property_key=self._property_key, digest_field=DIGEST_FIELD
            )
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
        dialect = self._client.dialect
        fields: dict[str, Any] = {
            "project": {"key": draft.project_key},
            "issuetype": {"name": draft.issue_type},
            "summary": draft.summary,
            "description": dialect.document(draft.description),
        }
        if draft.reporter_account_id:
            fields["reporter"] = dialect.user_field(draft.reporter_account_id)
        if draft.assignee_account_id:
            fields["assignee"] = dialect.user_field(draft.assignee_account_id)
        labels = list(draft.labels)
        if self._marker_labels:
            labels.append(marker_label(draft.message_digest))
        if labels:
            fields["labels"] = labels
        if draft.priority:
            fields["priority"] = {"name": draft.priority}
        fields.update(self._shaped(draft.custom_fields))
        created = self._client.create_issue(
            fields, properties={self._property_key: {DIGEST_FIELD: draft.message_digest}}
        )
        return created.key

    def add_comment(self, draft: CommentDraft) -> AddedComment:
        properties = {self._property_key: {DIGEST_FIELD: draft.message_digest}}
        author, note = draft.author, ""
        if author is not None and draft.authored_body is not None:
            try:
                created = self._comment_as(author, draft, properties)
                return AddedComment(
                    created.id, author.account_id, f"written as {author.display_name}"
                )
            except ImpersonationRefused as exc:
                note = f"written by the app: {exc.reason}"
        created = self._client.add_comment(draft.issue_key, draft.body, properties=properties)
        return AddedComment(created.id, None, note)

    def _comment_as(
        self, author: JiraPerson, draft: CommentDraft, properties: dict[str, Any]
    ) -> CreatedComment:
        """The comment written as `author`. Refusals (no consent to act as users, a user who
        may not see or comment on the issue) raise `ImpersonationRefused`; Jira being busy or
        down raises its retryable error, so the message is retried rather than re-authored."""
        if self._user_clients is None:
            raise ImpersonationRefused("this site's connection cannot act as users")
        client = self._user_clients.client_for(author.account_id)
        try:
            return client.add_comment(
                draft.issue_key, draft.authored_body or draft.body, properties=properties
            )
        except JiraAuthError as exc:
            if exc.status == 401:
                self._user_clients.discard(author.account_id)
            raise ImpersonationRefused(
                f"Jira refused the comment as {author.display_name} ({exc.status})"
            ) from exc
        except JiraNotFound as exc:
            raise ImpersonationRefused(
                f"{author.display_name} cannot see {draft.issue_key} in Jira"
            ) from exc

    def attachment_names(self, issue_key: str) -> set[tuple[str, int]]:
        issue = self._client.get_issue(issue_key, fields="attachment")
        attachments = (issue.get("fields") or {}).get("attachment") or []
        return {(str(a.get("filename")), int(a.get("size") or 0)) for a in attachments}

    def attach(self, issue_key: str, attachment: MailAttachment) -> None:
        self._client.add_attachment(
            issue_key, attachment.filename, attachment.content, attachment.content_type
        )

    def _shaped(self, custom_fields: Any) -> dict[str, Any]:
        """Text for a paragraph field goes as ADF, as REST v3 requires for textarea fields
        (as wiki markup on Data Center: `JiraDialect.rich_text`).
        A short text field holds 255 characters in Jira Cloud and refuses the whole issue
        when given more: a long Cc list or header is cut there, marked with an ellipsis (the
        full text stays in the mail, the participant table and the email log)."""
        values = dict(custom_fields)
        texts = [k for k, v in values.items() if isinstance(v, str) and k.startswith("custom")]
        if not texts:
            return values
        rich, short = self._text_fields()
        for field_id in texts:
            if field_id in rich:
                values[field_id] = self._client.dialect.rich_text(values[field_id])
            elif field_id in short and len(values[field_id]) > SHORT_TEXT_LIMIT:
                values[field_id] = values[field_id][: SHORT_TEXT_LIMIT - 1] + "\u2026"
        return values

    def _text_fields(self) -> tuple[frozenset[str], frozenset[str]]:
        """Ids of the paragraph and of the short text fields, read from Jira once."""
        with self._lock:
            if self._text_kinds is not None:
                return self._text_kinds
        fields = index_fields(self._client.get_fields())
        rich = frozenset(k for k, f in fields.items() if is_rich_text(f))
        short = frozenset(k for k, f in fields.items() if custom_type(f) == "textfield")
        with self._lock:
            self._text_kinds = (rich, short)
        return rich, short

    # -- Jira Service Management -----------------------------------------------------------

    def is_service_project(self, project_key: str) -> bool:
        with self._lock:
            known = self._project_types.get(project_key)
        if known is None:
            known = str(self._client.get_project(project_key).get("projectTypeKey") or "")
            with self._lock:
                self._project_types[project_key] = known
        return known == SERVICE_DESK_TYPE

    def customer_for(self, address: str, display_name: str) -> JiraPerson:
        """The JSM customer with this address, created when there is none."""
        wanted = address.strip().lower()
        known, person = self._people.lookup("customer", wanted)
        if known and person is not None:
            return person
        existing = next(
            (
                u
                for u in self._search_users(wanted)
                if u.account_type == "customer" and _same_address(u, wanted)
            ),
            None,
        )
        if existing is None:
            try:
                existing = self._client.create_customer(wanted, display_name or wanted)
            except JiraError as exc:
                if exc.status != 409:
                    raise
                raise JiraError(
                    409, ["a customer with this address exists, but Jira does not show it"]
                ) from exc
        found = JiraPerson(existing.account_id, existing.display_name)
        self._people.remember("customer", wanted, found)
        return found

    def add_participants(self, issue_key: str, account_ids: Sequence[str]) -> None:
        if account_ids:
            self._client.add_request_participants(issue_key, list(account_ids))


def _same_address(user: JiraUser, wanted: str) -> bool:
    return user.active and (user.email or "").lower() == wanted
