"""One recorded webhook event, decided: who hears about it, or why nobody does.

Rules (issue 7): only people without a Jira account hear from us (Jira tells its own users);
never the comment's author; never about a comment the app itself made from mail (our message
property is on it, or the app wrote it); never about a comment customers may not see (a JSM
internal note, `jsdPublic: false`, or one restricted to a role or group). The comment is read
from Jira in ADF (webhooks carry wiki markup), which also tells what the webhook may not.
Jira Data Center has no ADF: its comments are wiki markup, and the mail shows Jira's own HTML
of them (`renderedBody`), sanitised as mail HTML is and read as text the same way
(`connector.mail.html`), rather than a second wiki parser of ours that could read the markup
differently from Jira.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from markupsafe import Markup

from connector.jira.adf_render import adf_to_html, adf_to_text
from connector.jira.errors import JiraError, JiraNotFound
from connector.mail.html import sanitize_html
from connector.mail.html_text import html_to_text
from connector.outbound.intake import COMMENT_CREATED
from connector.outbound.queue import (
    IssueThread,
    MailRequest,
    TenantTemplates,
    issue_thread,
    queue_mail,
)
from connector.outbound_config import ConnectionSpec, NotificationSettings
from connector.runtime import Runtime
from connector.storage.outbox import FAILED
from connector.storage.threads import ParticipantRecord
from connector.storage.webhook_events import HANDLED, IGNORED, WebhookEvent
from connector.tenant import Tenant

INTERNAL_PROPERTY = "sd.public.comment"  # JSM's marker of an internal note


class JiraReader(Protocol):
    """What deciding needs from Jira; `JiraError` when it cannot answer."""

    def get_comment(self, issue_key: str, comment_id: str) -> dict[str, Any]: ...

    def app_account_id(self) -> str | None: ...


@dataclass(frozen=True)
class Decision:
    status: str  # handled | ignored
    reason: str


@dataclass(frozen=True)
class Context:
    runtime: Runtime
    tenant: Tenant
    spec: ConnectionSpec | None
    settings: NotificationSettings
    jira: JiraReader
    message_property_key: str


def decide_event(ctx: Context, event: WebhookEvent) -> Decision:
    """Queue the event's mail, or say why there is none. Raises `JiraError` when Jira could
    not be asked (the caller retries the retryable ones)."""
    facts = event.facts
    kind = "comment_created" if event.event == COMMENT_CREATED else "issue_status"
    issue_key = str(facts.get("issue_key") or "")
    project = str(facts.get("project_key") or issue_key.rpartition("-")[0])
    off = ctx.settings.notifies(project, kind)
    if off:
        return Decision(IGNORED, off)
    if ctx.spec is None or not ctx.spec.enabled:
        return Decision(IGNORED, "no outbound mail connection is set up (or it is off)")
    if kind == "comment_created":
        return _comment(ctx, event, issue_key)
    return _status(ctx, event, issue_key)


def _comment(ctx: Context, event: WebhookEvent, issue_key: str) -> Decision:
    facts = event.facts
    hidden = _hidden(facts.get("comment_public"), facts.get("comment_restricted"))
    if hidden:
        return Decision(IGNORED, hidden)
    app_id = ctx.jira.app_account_id()
    if facts.get("author_id") and facts.get("author_id") == app_id:
        return Decision(IGNORED, "the app wrote this comment (from mail); it is not sent back")
    try:
        comment = ctx.jira.get_comment(issue_key, str(facts["comment_id"]))
    except JiraNotFound:
        return Decision(IGNORED, "the comment no longer exists (or the app cannot see it)")
    properties = _properties(comment)
    if ctx.message_property_key in properties:
        return Decision(IGNORED, "the app made this comment from mail; it is not sent back")
    internal = (properties.get(INTERNAL_PROPERTY) or {}).get("internal") is True
    hidden = _hidden(False if internal else comment.get("jsdPublic"), comment.get("visibility"))
    if hidden:
        return Decision(IGNORED, hidden)
    found_author = comment.get("author")
    author: Mapping[str, Any] = found_author if isinstance(found_author, Mapping) else {}
    author_email = str(author.get("emailAddress") or facts.get("author_email") or "").lower()
    people = _recipients(ctx, issue_key, exclude=author_email)
    if not people:
        return Decision(IGNORED, "no participant without a Jira account to tell")
    content = _content(comment)
    if content is None:
        return Decision(IGNORED, "the comment has no body Jira could render")
    context = {
        "summary": str(facts.get("summary") or ""),
        "author_name": str(author.get("displayName") or facts.get("author_name") or "Support"),
        "comment_text": content[0],
        "comment_html": content[1],
    }
    dedupe = f"comment:{issue_key}:{facts['comment_id']}"
    return _queue_all(ctx, event, issue_key, "comment", dedupe, people, context)


def _content(comment: Mapping[str, Any]) -> tuple[str, Markup] | None:
    """The comment as the mail's text and HTML: from its ADF body (Jira Cloud) or from the
    HTML Jira rendered of its wiki markup (Data Center), or None when it has neither."""
    body = comment.get("body")
    if isinstance(body, Mapping):
        return adf_to_text(body), Markup(adf_to_html(body))  # noqa: S704 - adf_to_html escapes
    rendered = comment.get("renderedBody")
    if isinstance(rendered, str) and rendered.strip():
        safe = sanitize_html(rendered)
        return html_to_text(safe), Markup(safe)  # noqa: S704 - sanitised to the mail allow-list
    return None


def _status(ctx: Context, event: WebhookEvent, issue_key: str) -> Decision:
    facts = event.facts
    change = facts.get("status_change") or {}
    people = _recipients(ctx, issue_key, exclude=str(facts.get("user_email") or "").lower())
    if not people:
        return Decision(IGNORED, "no participant without a Jira account to tell")
    context = {
        "summary": str(facts.get("summary") or ""),
        "status": str(change.get("to") or facts.get("status") or ""),
        "old_status": str(change.get("from") or ""),
        "author_name": str(facts.get("user_name") or "Support"),
    }
    # One mail per change and recipient however often Jira delivers the webhook: its
    # changelog id is stable across redeliveries; our event id is not when Jira leaves out
    # the delivery id header (each delivery is then recorded as a new event).
    changelog_id = facts.get("changelog_id")
    dedupe = f"status:{issue_key}:{changelog_id}" if changelog_id else f"status:{event.id}"
    return _queue_all(ctx, event, issue_key, "status", dedupe, people, context)


def _queue_all(
    ctx: Context,
    event: WebhookEvent,
    issue_key: str,
    kind: str,
    dedupe: str,
    people: list[ParticipantRecord],
    context: Mapping[str, Any],
) -> Decision:
    assert ctx.spec is not None
    thread: IssueThread = issue_thread(ctx.runtime, ctx.tenant.id, issue_key)
    templates = TenantTemplates(ctx.runtime, ctx.tenant.id, ctx.settings)
    queued, failures = 0, []
    for person in people:
        request = MailRequest(
            kind=kind,
            dedupe_key=f"{dedupe}:{person.address.lower()}",
            issue_key=issue_key,
            recipient=person.address,
            recipient_name=person.name,
            context=context,
            event_id=event.id,
        )
        message = queue_mail(
            ctx.runtime,
            ctx.tenant,
            ctx.spec,
            ctx.settings,
            request,
            thread=thread,
            templates=templates,
        )
        if message is not None:
            queued += 1
            if message.status == FAILED:
                failures.append(message.error)
    if not queued:
        return Decision(HANDLED, "already queued by an earlier delivery of this event")
    if failures:
        return Decision(HANDLED, f"queued {queued} mail(s); {len(failures)} failed: {failures[0]}")
    return Decision(HANDLED, f"queued {queued} mail(s)")


def _recipients(ctx: Context, issue_key: str, *, exclude: str) -> list[ParticipantRecord]:
    """Participants without a Jira account, but never the person who acted nor an address
    we send from (a customer's reply-all may have copied it)."""
    spec = ctx.spec
    ours = {a.lower() for a in (spec.from_address, spec.reply_to) if a} if spec else set()
    return [
        person
        for person in ctx.runtime.participants.for_issue(ctx.tenant.id, issue_key)
        if person.jira_account_id is None
        and person.address.lower() != exclude
        and person.address.lower() not in ours
    ]


def _hidden(public: Any, restricted: Any) -> str | None:
    if public is False:
        return "internal comment (JSM): never sent to customers"
    if restricted:
        return "the comment is visible only to a role or group: not sent"
    return None


def _properties(comment: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in comment.get("properties") or []:
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            found[item["key"]] = item.get("value")
    return found


def jira_failure(exc: JiraError) -> str:
    return f"Jira: {exc}"
