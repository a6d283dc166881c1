"""Notifications for sites connected without an install: Jira's changes, read by polling.

Without an app install Jira sends us no webhooks, so the worker asks each such site, about
once a minute, which issues changed since it last asked (`updated >= "-Nm"`: a relative JQL
date needs no time zone, while absolute ones are read in the searching account's zone). Only
issues with participants we know (the people mail came from) are looked at further: their
comments and their changelog. Each new comment and status change becomes the same recorded
event a webhook would have been (`connector.outbound.intake`), so the same rules decide it
(`connector.outbound.notify`): public comments and status changes go to participants without
a Jira account; internal notes and restricted comments never; a comment made from mail (our
property on it, or written by the site's account) is never sent back.

Each event is recorded under a delivery id made of Jira's own id (`poll:comment:<id>`,
`poll:changelog:<id>`), unique per tenant, so reading a change twice (the overlap below, two
workers, a crash before the cursor moved) records it once. Each pass reads from a little
before the previous one began (`OVERLAP`), for Jira's search index to catch up and for clock
differences; the first pass only marks where reading starts, so connecting a site does not
mail people about its history.

Jira Cloud and Data Center alike: the search, comments and changelog go through the site's
dialect (`connector.jira.dialect`: REST v2, the changelog expanded on the issue), and Data
Center's JQL takes the same relative `updated >= "-Nm"`. Data Center could also send its own
webhooks, registered with admin rights; they are not used: polling works with any account
that may browse the projects, and one way of hearing about changes is simpler to run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from connector import logs
from connector.jira.auth import tenant_site
from connector.jira.client import JiraClient
from connector.jira.errors import JiraError
from connector.jira.limits import Priority
from connector.outbound.intake import COMMENT_CREATED, ISSUE_UPDATED, receive
from connector.runtime import Runtime
from connector.tenant import Tenant

log = logging.getLogger(__name__)

CHANGES_EVERY = timedelta(seconds=60)
OVERLAP = timedelta(minutes=2)
MAX_ISSUES = 100


def read_site_changes(runtime: Runtime, now: datetime) -> int:
    """One pass over every site due for one; the number of events recorded."""
    recorded = 0
    for tenant_id in runtime.sites.due_for_changes(now - CHANGES_EVERY):
        tenant = runtime.tenants.by_id(tenant_id)
        if tenant is None or not tenant.active:
            continue
        try:
            recorded += read_changes(runtime, tenant, now)
        except JiraError as exc:
            # The cursor stays: the next pass reads the same changes again.
            logs.event(
                log,
                "sites.changes_failed",
                logging.WARNING,
                client_key=tenant.client_key,
                error=exc,
            )
    return recorded


def read_changes(runtime: Runtime, tenant: Tenant, now: datetime) -> int:
    since = runtime.sites.changes_read_until(tenant.id)
    stored = runtime.outbound.connection(tenant.id)
    if since is None or stored is None or not stored.spec.enabled:
        # Nothing to tell anyone about (yet): start from here.
        runtime.sites.set_changes_read_until(tenant.id, now)
        return 0
    start = since - OVERLAP
    minutes = math.ceil((now - start).total_seconds() / 60) + 1
    site = tenant_site(tenant, app_key=runtime.settings.app_key)
    client = JiraClient(
        site, session=runtime.jira_sessions.for_site(site.base_url), priority=Priority.LOW
    )
    issues = client.search_issues(
        f'updated >= "-{minutes}m" ORDER BY updated ASC',
        fields="summary,status,project,updated",
        max_results=MAX_ISSUES,
    )
    recorded = 0
    for issue in issues:
        key = str(issue.get("key") or "")
        if key and runtime.participants.for_issue(tenant.id, key):
            recorded += _issue_changes(runtime, tenant, client, issue, start)
    until = now
    if len(issues) >= MAX_ISSUES:
        # More changed than one page: go on from the last one read (oldest first).
        last = jira_time(_fields(issues[-1]).get("updated"))
        until = min(now, last) if last is not None else now
    runtime.sites.set_changes_read_until(tenant.id, until)
    return recorded


def _issue_changes(
    runtime: Runtime, tenant: Tenant, client: JiraClient, issue: Mapping[str, Any], start: datetime
) -> int:
    key = str(issue["key"])
    recorded = 0
    for comment in client.get_comments(key):
        if _since(comment.get("created"), start):
            payload = {"issue": issue, "comment": comment}
            delivery = f"poll:comment:{comment.get('id')}"
            receive(
                runtime.webhook_events,
                tenant.id,
                tenant.client_key,
                COMMENT_CREATED,
                payload,
                delivery,
            )
            recorded += 1
    for change in client.get_changelog(key):
        items = change.get("items") or []
        is_status = any(
            isinstance(item, dict) and "status" in (item.get("fieldId"), item.get("field"))
            for item in items
        )
        if is_status and _since(change.get("created"), start):
            payload = {
                "issue": issue,
                "changelog": {"id": change.get("id"), "items": items},
                "user": change.get("author") or {},
            }
            delivery = f"poll:changelog:{change.get('id')}"
            receive(
                runtime.webhook_events,
                tenant.id,
                tenant.client_key,
                ISSUE_UPDATED,
                payload,
                delivery,
            )
            recorded += 1
    return recorded


def _fields(issue: Mapping[str, Any]) -> Mapping[str, Any]:
    fields = issue.get("fields")
    return fields if isinstance(fields, Mapping) else {}


def jira_time(value: Any) -> datetime | None:
    """Jira's `2026-12-06T14:50:00.123+0000`, or None when it is not that."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return None


def _since(value: Any, start: datetime) -> bool:
    """Whether a change is from `start` on; one whose time cannot be read is taken (the
    delivery id keeps it from being recorded twice)."""
    when = jira_time(value)
    return when is None or when >= start
