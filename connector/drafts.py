"""What the pipeline asks of Jira, as values, and the port it asks through.

`IssueTracker` is the seam (DESIGN.md, "Seams"): the pipeline is given one; production passes
`connector.jira.tracker.JiraTracker`, tests may pass the same over the fake Jira.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from connector.mail.inbound import MailAttachment


@dataclass(frozen=True)
class IssueDraft:
    project_key: str
    issue_type: str
    summary: str
    description: Mapping[str, Any] = field(repr=False)  # ADF
    message_digest: str
    reporter_account_id: str | None = None
    assignee_account_id: str | None = None
    labels: tuple[str, ...] = ()
    priority: str | None = None
    custom_fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JiraPerson:
    account_id: str
    display_name: str


@dataclass(frozen=True)
class CommentDraft:
    """A reply as a comment. `body` is what the app writes (its first line names the sender);
    when the sender has a Jira account (`author`), the comment is written as them where the
    site allows, with `authored_body`, which needs no such line."""

    issue_key: str
    body: Mapping[str, Any] = field(repr=False)  # ADF
    message_digest: str
    author: JiraPerson | None = None
    authored_body: Mapping[str, Any] | None = field(default=None, repr=False)  # ADF


@dataclass(frozen=True)
class AddedComment:
    id: str
    author_account_id: str | None  # None: written by the app
    note: str = ""  # for the email log: who wrote it and, when the app did for a user, why


@dataclass(frozen=True)
class IssueInfo:
    key: str
    project_key: str
    issue_type: str


class IssueTracker(Protocol):
    """What the pipeline needs from Jira; every call may raise `connector.jira.errors.JiraError`
    (its `retryable` says whether trying later can help)."""

    def issue_info(self, issue_key: str) -> IssueInfo | None: ...

    def find_person(self, address: str) -> JiraPerson | None: ...

    def find_issue_by_digest(self, digest: str) -> str | None: ...

    def find_comment_by_digest(self, issue_key: str, digest: str) -> str | None: ...

    def create_issue(self, draft: IssueDraft) -> str: ...

    def add_comment(self, draft: CommentDraft) -> AddedComment: ...

    def attachment_names(self, issue_key: str) -> set[tuple[str, int]]: ...

    def attach(self, issue_key: str, attachment: MailAttachment) -> None: ...


@runtime_checkable
class ServiceDesk(Protocol):
    """Jira Service Management extras for service projects (`projectTypeKey` service_desk):
    a sender without a Jira account becomes a customer, Cc'd people request participants.
    A separate port because only some projects have it, and because a failure here must not
    stop the issue itself (the pipeline logs it and goes on)."""

    def is_service_project(self, project_key: str) -> bool: ...

    def customer_for(self, address: str, display_name: str) -> JiraPerson: ...

    def add_participants(self, issue_key: str, account_ids: Sequence[str]) -> None: ...
