"""`/api/v1/mail-sources`: list (with search), create, read, replace and delete a tenant's sources.

Every read and write goes through `SourceRepository` with the caller's tenant id, so another
tenant's source answers exactly like one that does not exist (404).
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector.admin.endpoint import Answer, ApiCall, log_action
from connector.admin.errors import ApiError, not_found
from connector.admin.host_checks import refuse_unusable_host
from connector.admin.route_checks import check_routes_in_jira
from connector.admin.serialize import iso, source_json
from connector.admin.source_body import spec_from_json
from connector.admin.source_checks import check_source_in_jira
from connector.mail_source import MailSource, SourceSpec
from connector.push.graph_end import end_before_delete
from connector.storage.email_log_filters import failed_per_source
from connector.storage.poll_runs import poll_progress

# What deleting a source leaves in place, so the admin knows before and after.
KEPT_ON_DELETE = (
    "issues and comments in Jira created from this source's mail",
    "the threads that let replies find their issue (by Message-ID)",
    "the participants recorded for those issues (senders and Cc addresses)",
)
REMOVED_ON_DELETE = (
    "the source's settings and stored password",
    "its position in the mailbox (a new source for it starts again at the current end)",
    "its email log entries",
)


def list_sources(call: ApiCall) -> Answer:
    """GET /api/v1/mail-sources?q= : search over name, description, host and username."""
    unknown = set(call.query) - {"q", "tz"}
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(400, f"{name}: is not a filter of mail sources", field=name)
    found = call.runtime.sources.search(call.tenant.id, call.query.get("q", ""))
    today = call.runtime.email_log.messages_today(call.tenant.id, zone=query_zone(call))
    polls = poll_progress(call.runtime.engine, call.tenant.id)
    failed = failed_per_source(call.runtime.engine, call.tenant.id)
    answer: dict[str, Any] = {
        "sources": [
            source_json(
                s,
                messages_today=today.get(s.id, 0),
                poll=polls.get(s.id),
                failed_messages=failed.get(s.id, 0),
            )
            for s in found
        ]
    }
    paused = call.runtime.jira_limiter.site_pause(call.tenant.base_url)
    if paused is not None:
        # Jira asked us to wait (its rate limits): no source of the tenant reaches Jira
        # before then, though mail is still fetched and kept for it.
        answer["jira_paused"] = {
            "until": iso(paused.until),
            "reason": paused.reason,
            "message": str(paused),
        }
    return Answer(answer)


def create_source(call: ApiCall) -> Answer:
    """POST /api/v1/mail-sources: new sources start disabled; enabling connects first. The
    project, issue type and field settings are checked against Jira before anything is saved."""
    spec = spec_from_json(call.body())
    check_source_host(call, spec)
    check_source_in_jira(call, spec)
    check_routes_in_jira(call, spec)  # each address rule's project, like the source's own
    created = call.runtime.sources.create(call.tenant.id, spec)
    log_action(
        call,
        "source_created",
        source_id=created.id,
        protocol=spec.protocol,
        has_password=bool(spec.password),
    )
    return Answer(
        source_json(created),
        status=201,
        headers={"Location": f"/api/v1/mail-sources/{created.id}"},
    )


def get_source(call: ApiCall) -> Answer:
    """GET /api/v1/mail-sources/{source_id}"""
    source = find_source(call)
    today = call.runtime.email_log.messages_today(call.tenant.id, zone=query_zone(call))
    poll = poll_progress(call.runtime.engine, call.tenant.id).get(source.id)
    failed = failed_per_source(call.runtime.engine, call.tenant.id).get(source.id, 0)
    return Answer(
        source_json(
            source,
            messages_today=today.get(source.id, 0),
            poll=poll,
            failed_messages=failed,
        )
    )


def update_source(call: ApiCall) -> Answer:
    """PUT /api/v1/mail-sources/{source_id}: replaces every setting; without `password` the
    stored one is kept (secrets are write-only, so a form never has it to send back)."""
    source_id = call.path_int("source_id")
    find_source(call)  # 404 before 400: another tenant learns nothing from validation
    spec = spec_from_json(call.body())
    check_source_host(call, spec)
    check_source_in_jira(call, spec)
    check_routes_in_jira(call, spec)  # each address rule's project, like the source's own
    updated = call.runtime.sources.update(call.tenant.id, source_id, spec)
    if updated is None:
        raise not_found("mail source", source_id)
    log_action(call, "source_updated", source_id=source_id, password_changed=bool(spec.password))
    today = call.runtime.email_log.messages_today(call.tenant.id)
    return Answer(source_json(updated, messages_today=today.get(source_id, 0)))


def delete_source(call: ApiCall) -> Answer:
    """DELETE /api/v1/mail-sources/{source_id}: says what is kept and what goes. A Graph
    source's change-notification subscription is ended at Graph first, while the source can
    still sign in (best effort, a few seconds at most: `connector.push.graph_end`)."""
    source_id = call.path_int("source_id")
    end_before_delete(call.runtime, call.tenant.id, source_id)
    if not call.runtime.sources.delete(call.tenant.id, source_id):
        raise not_found("mail source", source_id)
    log_action(call, "source_deleted", source_id=source_id)
    return Answer(
        {
            "deleted": True,
            "id": source_id,
            "kept": list(KEPT_ON_DELETE),
            "removed": list(REMOVED_ON_DELETE),
        }
    )


def check_source_host(call: ApiCall, spec: SourceSpec) -> None:
    """400 on `host` when the app may not connect there. Graph hosts are Microsoft's own
    (`connector.sources.config.GRAPH_HOSTS`), so there is nothing to check."""
    if spec.protocol != "graph":
        refuse_unusable_host(call.runtime.host_policy, spec.host, spec.port, field="host")


def query_zone(call: ApiCall) -> tzinfo:
    """The time zone "today" is counted in: `tz` (an IANA name, as the pages send the Jira
    user's), UTC without it."""
    name = call.query.get("tz", "").strip()
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, ZoneInfoNotFoundError):
        raise ApiError(400, f"tz: {name!r} is not a time zone name", field="tz") from None


def find_source(call: ApiCall) -> MailSource:
    """The caller's tenant's source named in the path, or 404 (whoever else's it may be)."""
    source_id = call.path_int("source_id")
    source = call.runtime.sources.get(call.tenant.id, source_id)
    if source is None:
        raise not_found("mail source", source_id)
    return source
