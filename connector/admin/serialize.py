"""Domain values -> the JSON the admin API answers with. Secrets never appear: only whether one
is stored (`has_password`). Times are ISO 8601 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connector.mail_source import MailSource, SourceSpec
from connector.outcomes import Outcome
from connector.resources.declare import names
from connector.resources.mail_source import SETTINGS
from connector.sources.tls import connection_warnings
from connector.storage.email_log import LogEntry
from connector.storage.poll_runs import PollProgress

# Settings as the API spells them, in the order a form shows them; `password` is write-only.
SETTING_NAMES = names(SETTINGS, write_only=False)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # SQLite hands back naive datetimes; everything is stored in UTC.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def status_of(source: MailSource) -> str:
    """ok / error / unknown (not polled since enabled), or disabled whatever the last poll said."""
    if not source.enabled:
        return "disabled"
    return source.status if source.status in ("ok", "error") else "unknown"


def poll_json(progress: PollProgress, source: MailSource) -> dict[str, Any]:
    """How far the source's latest poll got; `ok` and `message` once it has ended."""
    ended = progress.finished_at is not None and progress.state == "idle"
    return {
        "state": progress.state,
        "requested_at": iso(progress.requested_at),
        "started_at": iso(progress.started_at),
        "finished_at": iso(progress.finished_at),
        "fetched": progress.fetched,
        "processed": progress.processed,
        "failed": progress.failed,
        "counts": dict(progress.counts),
        "queued": progress.queued,
        "ok": source.status == "ok" if ended else None,
        "message": source.status_message if ended else None,
    }


def source_json(
    source: MailSource,
    *,
    messages_today: int = 0,
    poll: PollProgress | None = None,
    failed_messages: int = 0,
) -> dict[str, Any]:
    spec = source.spec
    settings: dict[str, Any] = {name: getattr(spec, name) for name in SETTING_NAMES}
    settings["exclusion_folders"] = list(spec.exclusion_folders)
    settings["policy"] = spec.policy.to_json()
    settings["address_rules"] = [rule.to_json() for rule in spec.address_rules]
    settings["plus_projects"] = list(spec.plus_projects)
    return {
        "id": source.id,
        **settings,
        "has_password": source.has_password,
        "uses_oauth": spec.uses_oauth,
        "enabled": source.enabled,
        "status": status_of(source),
        "status_message": source.status_message,
        "status_at": iso(source.status_at),
        "last_poll_at": iso(source.last_poll_at),
        "next_poll_at": iso(source.next_poll_at) if source.enabled else None,
        "first_connected_at": iso(source.first_connected_at),
        "messages_today": messages_today,
        "failed_messages": failed_messages,
        "warnings": list(spec_warnings(spec)),
        "receives": source.receives,
        "poll": poll_json(poll, source) if poll is not None else None,
        "created_at": iso(source.created_at),
        "updated_at": iso(source.updated_at),
    }


def spec_warnings(spec: SourceSpec) -> tuple[str, ...]:
    """What an admin should see about these settings though they work (TLS checks off...)."""
    config = spec.connection_config(
        password="placeholder",  # noqa: S106 - only to build the settings; never used to log in
        access_token=(lambda: "placeholder") if spec.uses_oauth else None,
    )
    return connection_warnings(config)


def entry_json(entry: LogEntry, *, source_name: str | None, display_url: str) -> dict[str, Any]:
    issue_url = f"{display_url.rstrip('/')}/browse/{entry.issue_key}" if entry.issue_key else None
    return {
        "id": entry.id,
        "source_id": entry.source_id,
        "source_name": source_name,
        "message_id": entry.message_id,
        "sender": entry.sender,
        "sender_name": entry.sender_name,
        "subject": entry.subject,
        "size": entry.size,
        "outcome": entry.outcome,
        "reason": entry.reason,
        "issue_key": entry.issue_key,
        "issue_url": issue_url,
        "attempts": entry.attempts,
        "received_at": iso(entry.received_at),
        "updated_at": iso(entry.updated_at),
        # Postponed (Jira unavailable): when the next attempt is due; null otherwise.
        "next_attempt_at": iso(entry.next_attempt_at),
        "failure": failure_kind(entry),
        # Which header and address rule decided (connector.pipeline.routes.Route.to_json), or null.
        "route": dict(entry.route) if entry.route else None,
    }


# How `connector.retry.Quarantine` ends the reason of a message whose attempts ran out.
_GAVE_UP = "(gave up after "
_INTERNAL = "internal error"


def failure_kind(entry: LogEntry) -> str | None:
    """Why a failed message failed, for what to offer: `transient` (Jira was unavailable
    until the attempts ran out, or an error of ours: retrying is the fix) or `permanent`
    (Jira refused it, or the message itself is the problem: fix the cause first)."""
    if entry.outcome is not Outcome.FAILED:
        return None
    if _GAVE_UP in entry.reason or entry.reason.startswith(_INTERNAL):
        return "transient"
    return "permanent"


def entry_detail_json(
    entry: LogEntry, *, source_name: str | None, display_url: str, raw_kept: bool
) -> dict[str, Any]:
    """An entry with what the list leaves out: headers, the decision trail, retry state."""
    return {
        **entry_json(entry, source_name=source_name, display_url=display_url),
        "message_key": entry.message_key,
        "comment_id": entry.comment_id,
        "headers": [{"name": name, "value": value} for name, value in entry.headers],
        "trail": list(entry.trail),
        "raw_kept": raw_kept,
        "retryable": entry.outcome is Outcome.FAILED and raw_kept,
        "can_process_anyway": entry.outcome is Outcome.IGNORED and raw_kept,
    }
