"""`/api/v1/email-log`: what happened to each message, newest first, and retry for failed ones."""

from __future__ import annotations

from connector.admin.endpoint import Answer, ApiCall, log_action
from connector.admin.errors import ApiError, not_found
from connector.admin.serialize import entry_detail_json, entry_json
from connector.outcomes import Outcome

OUTCOMES = tuple(sorted(Outcome))
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def list_entries(call: ApiCall) -> Answer:
    """GET /api/v1/email-log?source_id=&outcome=&q=&before_id=&limit="""
    unknown = set(call.query) - {"source_id", "outcome", "q", "before_id", "limit"}
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
    entries = call.runtime.email_log.search(
        call.tenant.id,
        source_id=source_id,
        outcome=outcome,
        text=call.query.get("q", ""),
        limit=limit,
        before_id=call.query_int("before_id"),
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


def get_entry(call: ApiCall) -> Answer:
    """GET /api/v1/email-log/{entry_id}: with headers and the decision trail."""
    entry_id = call.path_int("entry_id")
    entry = call.runtime.email_log.get(call.tenant.id, entry_id)
    if entry is None:
        raise not_found("email log entry", entry_id)
    raw_kept = call.runtime.email_log.raw(call.tenant.id, entry_id) is not None
    return Answer(
        entry_detail_json(
            entry,
            source_name=_source_names(call).get(entry.source_id),
            display_url=call.tenant.display_url,
            raw_kept=raw_kept,
        )
    )


def retry_entry(call: ApiCall) -> Answer:
    """POST /api/v1/email-log/{entry_id}/retry: a failed message goes back to the queue."""
    entry_id = call.path_int("entry_id")
    log = call.runtime.email_log
    entry = log.get(call.tenant.id, entry_id)
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
    return Answer(
        entry_detail_json(
            reopened,
            source_name=_source_names(call).get(entry.source_id),
            display_url=call.tenant.display_url,
            raw_kept=True,
        )
    )


def _source_names(call: ApiCall) -> dict[int, str]:
    return {source.id: source.spec.name for source in call.runtime.sources.search(call.tenant.id)}
