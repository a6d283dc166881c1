"""A verified Jira webhook, recorded: the facts the worker needs, and what needs no worker.

Only what decides a notification is kept (ids, keys, the status change, who acted), never the
comment body: the worker reads the comment in ADF from Jira, which webhooks do not carry
(their body is wiki markup). Events that cannot notify anyone are recorded as `ignored` with
the reason at once, so the audit list shows every delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from connector import logs
from connector.storage.webhook_events import IGNORED, RECEIVED, WebhookEvent, WebhookEvents

log = logging.getLogger(__name__)

COMMENT_CREATED = "comment_created"
ISSUE_UPDATED = "jira:issue_updated"


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def event_facts(event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    issue = _dict(payload.get("issue"))
    fields = _dict(issue.get("fields"))
    comment = _dict(payload.get("comment"))
    author = _dict(comment.get("author"))
    user = _dict(payload.get("user"))
    facts: dict[str, Any] = {
        "event": event,
        "issue_key": _str(issue.get("key")),
        "issue_id": _str(issue.get("id")),
        "project_key": _str(_dict(fields.get("project")).get("key")),
        "summary": _str(fields.get("summary")),
        "status": _str(_dict(fields.get("status")).get("name")),
        "issue_event_type": _str(payload.get("issue_event_type_name")),
    }
    if comment:
        facts.update(
            comment_id=_str(comment.get("id")),
            # Jira Cloud names users by accountId, Data Center by username (`name`).
            author_id=_str(author.get("accountId") or author.get("name")),
            author_type=_str(author.get("accountType")),
            author_name=_str(author.get("displayName")),
            author_email=_str(author.get("emailAddress")),
            # JSM: false for an internal note (REST "jsdPublic"); absent outside JSM.
            comment_public=comment.get("jsdPublic")
            if isinstance(comment.get("jsdPublic"), bool)
            else None,
            comment_restricted=bool(comment.get("visibility")),
        )
    if user:
        facts.update(
            user_id=_str(user.get("accountId") or user.get("name")),
            user_name=_str(user.get("displayName")),
            user_email=_str(user.get("emailAddress")),
        )
    changelog = _dict(payload.get("changelog"))
    # Jira's id of this change: the same on every delivery of the webhook, so it (not our row
    # id) names the change when a redelivery arrives without the delivery id header.
    facts["changelog_id"] = _str(changelog.get("id"))
    for item in changelog.get("items") or []:
        item = _dict(item)
        if item.get("fieldId") == "status" or item.get("field") == "status":
            facts["status_change"] = {
                "from": _str(item.get("fromString")) or "",
                "to": _str(item.get("toString")) or "",
            }
    return facts


def why_not(event: str, facts: Mapping[str, Any]) -> str | None:
    """The reason an event can never notify anyone, or None when the worker must look."""
    if event not in (COMMENT_CREATED, ISSUE_UPDATED):
        return f"{event}: no notification is sent for this event"
    if not facts.get("issue_key"):
        return "the webhook names no issue"
    if event == COMMENT_CREATED and not facts.get("comment_id"):
        return "the webhook names no comment"
    if event == ISSUE_UPDATED and "status_change" not in facts:
        return "issue updated without a status change"
    return None


def receive(
    events: WebhookEvents,
    tenant_id: int,
    client_key: str,
    event: str,
    payload: Mapping[str, Any],
    delivery_id: str | None,
) -> WebhookEvent:
    facts = event_facts(event, payload)
    reason = why_not(event, facts)
    recorded, new = events.record(
        tenant_id,
        delivery_id=delivery_id,
        event=event,
        facts=facts,
        status=IGNORED if reason else RECEIVED,
        reason=reason or "",
    )
    logs.event(
        log,
        "jira.webhook",
        client_key=client_key,
        webhook=event,
        issue_key=facts.get("issue_key") or "-",
        event_id=recorded.id,
        outcome=("redelivered" if not new else recorded.status),
    )
    return recorded
