"""`/api/v1/email-log`: what happened to each message, newest first, and the ways to fix it:
filters to find it, retry (one or many) for failed ones, the original message to download
while it is kept."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from connector.admin.endpoint import MAX_ID, Answer, ApiCall, log_action
from connector.admin.errors import ApiError, not_found
from connector.admin.serialize import entry_detail_json, entry_json
from connector.outcomes import Outcome
from connector.storage.email_log import LogEntry
from connector.storage.email_log_filters import LogFilters, process_anyway

OUTCOMES = tuple(sorted(Outcome))
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_BULK_RETRY = 200
_FILTERS = frozenset(
    {
        "source_id",
        "outcome",
        "q",
        "before_id",
        "limit",
        "sender",
        "project_key",
        "issue_key",
        "received_from",
        "received_to",
    }
)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def list_entries(call: ApiCall) -> Answer:
    """GET /api/v1/email-log?source_id=&outcome=&q=&sender=&project_key=&issue_key=
    &received_from=&received_to=&before_id=&limit="""
    unknown = set(call.query) - _FILTERS
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(400, f"{name}: is not a filter of the email log", field=name)
    wanted = call.query.get("outcome") or None
    if wanted is not None and wanted not in OUTCOMES:
        raise ApiError(400, f"outcome: must be one of {', '.join(OUTCOMES)}", field="outcome")
    outcome = None if wanted is None else Outcome(wanted)
    limit = call.query_int("limit")
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit: must be from 1 to {MAX_LIMIT}", field="limit")
    source_id = call.query_int("source_id")
    received_from = _day(call, "received_from")
    received_to = _day(call, "received_to")
    filters = LogFilters(
        sender=call.query.get("sender", ""),
        issue_key=call.query.get("issue_key", ""),
        project_key=call.query.get("project_key", ""),
        received_from=_start_of(received_from),
        # The last day counts whole: before the start of the day after it.
        received_before=_start_of(received_to + timedelta(days=1) if received_to else None),
    )
    entries = call.runtime.email_log.search(
        call.tenant.id,
        source_id=source_id,
        outcome=outcome,
        text=call.query.get("q", ""),
        limit=limit,
        before_id=call.query_int("before_id"),
        filters=filters,
    )
    names = _source_names(call)
    display_url = call.tenant.display_url
    return Answer(
        {
            "entries": [
                entry_json(e, source_name=names.get(e.source_id), display_url=display_url)
                for e in entries
            ],
            # The next page: ask again with before_id set to this.
            "next_before_id": entries[-1].id if len(entries) == limit else None,
        }
    )


def _day(call: ApiCall, name: str) -> date | None:
    """A day from the query (YYYY-MM-DD, as a date input sends it), or None when empty."""
    text = call.query.get(name, "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise ApiError(400, f"{name}: must be a day written as YYYY-MM-DD", field=name)


def _start_of(day: date | None) -> datetime | None:
    # Days are UTC days, as the times the log shows are stored.
    return None if day is None else datetime.combine(day, time(), UTC)


def get_entry(call: ApiCall) -> Answer:
    """GET /api/v1/email-log/{entry_id}: with headers and the decision trail."""
    entry_id = call.path_int("entry_id")
    entry = call.runtime.email_log.get(call.tenant.id, entry_id)
    if entry is None:
        raise not_found("email log entry", entry_id)
    raw_kept = call.runtime.email_log.raw(call.tenant.id, entry_id) is not None
    return Answer(_detail(call, entry, raw_kept=raw_kept))


def retry_entry(call: ApiCall) -> Answer:
    """POST /api/v1/email-log/{entry_id}/retry: a failed message goes back to the queue."""
    entry_id = call.path_int("entry_id")
    return Answer(_detail(call, _retry(call, entry_id), raw_kept=True))


def _detail(call: ApiCall, entry: LogEntry, *, raw_kept: bool) -> dict[str, Any]:
    return entry_detail_json(
        entry,
        source_name=_source_names(call).get(entry.source_id),
        display_url=call.tenant.display_url,
        raw_kept=raw_kept,
    )


def retry_entries(call: ApiCall) -> Answer:
    """POST /api/v1/email-log/retry {"entry_ids": [...]}: many failed messages back to the
    queue at once; each one that cannot be retried says why, the others go ahead."""
    ids = call.body().get("entry_ids")
    if (
        not isinstance(ids, list)
        or not ids
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise ApiError(400, "entry_ids: must be a list of email log entry ids", field="entry_ids")
    if len(ids) > MAX_BULK_RETRY:
        raise ApiError(400, f"entry_ids: at most {MAX_BULK_RETRY} at once", field="entry_ids")
    retried: list[int] = []
    refused: list[dict[str, Any]] = []
    for entry_id in dict.fromkeys(ids):
        try:
            retried.append(_retry(call, entry_id).id)
        except ApiError as exc:
            refused.append({"id": entry_id, "error": exc.message})
    return Answer({"retried": retried, "refused": refused})


def _retry(call: ApiCall, entry_id: int) -> LogEntry:
    log = call.runtime.email_log
    entry = log.get(call.tenant.id, entry_id) if 0 <= entry_id <= MAX_ID else None
    if entry is None:
        raise not_found("email log entry", entry_id)
    if entry.outcome is not Outcome.FAILED:
        raise ApiError(
            409, f"only failed messages can be retried; this one is {entry.outcome}", field=None
        )
    # The worker retries from the stored copy, and the retention purge may forget it at any
    # moment; `reopen` checks for it in the same write, so a retry never waits forever.
    reopened = log.reopen(call.tenant.id, entry_id)
    if reopened is None:
        now = log.get(call.tenant.id, entry_id)
        if now is None:
            raise not_found("email log entry", entry_id)
        if now.outcome is not Outcome.FAILED:
            raise ApiError(
                409, f"only failed messages can be retried; this one is {now.outcome}", field=None
            )
        raise ApiError(
            409,
            "the message itself was not kept (too large to store, or purged after the "
            "retention period), so it cannot be retried; ask the sender to send it again",
            field=None,
        )
    log_action(call, "email_retried", source_id=entry.source_id, entry_id=entry_id)
    return reopened


def process_entry_anyway(call: ApiCall) -> Answer:
    """POST /api/v1/email-log/{entry_id}/process-anyway: an ignored message (auto-reply,
    ignored sender...) is processed at the source's next poll, its filters off for it."""
    entry_id = call.path_int("entry_id")
    log = call.runtime.email_log
    entry = log.get(call.tenant.id, entry_id)
    if entry is None:
        raise not_found("email log entry", entry_id)
    if entry.outcome is not Outcome.IGNORED:
        raise ApiError(
            409, f"only ignored messages can be processed anyway; this one is {entry.outcome}"
        )
    if not process_anyway(call.runtime.engine, call.tenant.id, entry_id):
        raise ApiError(
            409,
            "the message itself is no longer kept (purged after the retention period), so it "
            "cannot be processed now; ask the sender to send it again",
        )
    log_action(call, "email_processed_anyway", source_id=entry.source_id, entry_id=entry_id)
    reopened = log.get(call.tenant.id, entry_id)
    if reopened is None:
        raise not_found("email log entry", entry_id)
    return Answer(_detail(call, reopened, raw_kept=True))


def download_message(call: ApiCall) -> Answer:
    """GET /api/v1/email-log/{entry_id}/message: the original message (.eml) while it is kept."""
    entry_id = call.path_int("entry_id")
    log = call.runtime.email_log
    entry = log.get(call.tenant.id, entry_id)
    if entry is None:
        raise not_found("email log entry", entry_id)
    raw = log.raw(call.tenant.id, entry_id)
    if raw is None:
        raise ApiError(
            404,
            "the message itself is no longer kept (purged after the retention period, or too "
            "large to store); only what the log shows is left",
            field=None,
        )
    log_action(call, "email_downloaded", source_id=entry.source_id, entry_id=entry_id)
    name = _SAFE_NAME.sub("-", entry.subject or "message").strip("-")[:60] or "message"
    return Answer(
        raw,
        media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="{entry_id}-{name}.eml"'},
    )


def _source_names(call: ApiCall) -> dict[int, str]:
    return {source.id: source.spec.name for source in call.runtime.sources.search(call.tenant.id)}
