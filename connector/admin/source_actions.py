"""Actions on a mail source: test the connection, enable (with a backlog estimate), disable, poll.

Enabling connects before anything is saved, so a source is never enabled with settings that do
not work. Where reading starts (DESIGN.md "Processing rules"):
- first connection: at the current end of the mailbox; earlier mail is left alone;
- `process_existing_since`: from that day, after an estimate, with `acknowledge` above
  `ACKNOWLEDGE_ABOVE` messages;
- enabled again after a pause: where it stopped, so mail that arrived meanwhile is processed
  (the same estimate and acknowledgement rule), unless `skip_existing` starts at the end.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from connector.admin.endpoint import Answer, ApiCall, log_action
from connector.admin.errors import ApiError
from connector.admin.serialize import iso, poll_json, source_json
from connector.admin.source_body import spec_from_json
from connector.admin.sources_api import find_source
from connector.mail_source import MailSource, SourceSpec
from connector.oauth_store import token_provider
from connector.sources import open_source
from connector.sources.base import Cursor, ImapCursor, Pop3Cursor, cursor_from_json
from connector.sources.config import SourceConfig
from connector.sources.diagnose import diagnose
from connector.sources.errors import (
    FolderNotFound,
    SourceAuthError,
    SourceConfigError,
    SourceError,
    SourceTlsError,
)
from connector.storage.poll_runs import poll_progress

ACKNOWLEDGE_ABOVE = 100
_ENABLE_OPTIONS = frozenset({"process_existing_since", "acknowledge", "skip_existing"})


def diagnose_unsaved(call: ApiCall) -> Answer:
    """POST /api/v1/mail-sources/test: diagnose settings before they are saved."""
    spec = spec_from_json(call.body())
    if not spec.password:
        raise ApiError(
            400,
            "password: is required to test settings that are not saved "
            "(a saved source is tested with its stored password at /mail-sources/{id}/test)",
            field="password",
        )
    diagnosis = diagnose(_config(call, spec, spec.password, "unsaved"))
    log_action(call, "source_tested", source_id="unsaved", ok=diagnosis.ok)
    return Answer(diagnosis.to_dict())


def diagnose_saved(call: ApiCall) -> Answer:
    """POST /api/v1/mail-sources/{source_id}/test: the stored settings, or edited ones sent in
    the body (the stored password is used when the body has none)."""
    source = find_source(call)
    body = call.body(optional=True)
    spec = spec_from_json(body) if body else source.spec
    # The position only means something for the mailbox it was taken in.
    cursor = None if body else _stored_cursor(source)
    diagnosis = diagnose(_saved_config(call, source, spec), cursor=cursor)
    log_action(call, "source_tested", source_id=source.id, ok=diagnosis.ok)
    return Answer(diagnosis.to_dict())


def enable_source(call: ApiCall) -> Answer:
    """POST /api/v1/mail-sources/{source_id}/enable"""
    source = find_source(call)
    options = call.body(optional=True)
    since, acknowledge, skip_existing = _enable_options(options)
    config = _saved_config(call, source, source.spec)
    stored = None if skip_existing or since else _stored_cursor(source)
    try:
        with open_source(config) as mailbox:
            if since is not None:
                count, more, start = mailbox.estimate_backlog(since), False, "since"
            elif stored is not None:
                listing = mailbox.list_new(stored, limit=ACKNOWLEDGE_ABOVE + 1)
                count, more, start = len(listing.refs), listing.has_more, "resume"
            else:
                count, more, start = 0, False, "now"
            estimate = {
                "messages": count,
                "more": more,
                "start": start,
                "since": iso(since),
                "acknowledge_above": ACKNOWLEDGE_ABOVE,
            }
            if count > ACKNOWLEDGE_ABOVE and not acknowledge:
                raise ApiError(
                    409,
                    f"{count}{'+' if more else ''} messages would be processed, more than "
                    f'{ACKNOWLEDGE_ABOVE}: send again with "acknowledge": true to go ahead',
                    field="acknowledge",
                    extra={"estimate": estimate},
                )
            cursor = None if stored is not None else mailbox.baseline(since)
    except SourceError as exc:
        raise _connection_refused(exc) from exc
    enabled = call.runtime.sources.set_enabled(
        call.tenant.id,
        source.id,
        True,
        cursor=cursor.to_json() if cursor is not None else None,
        first_connected_at=datetime.now(UTC),
    )
    if enabled is None:
        raise ApiError(404, f"no mail source with id {source.id}")
    log_action(call, "source_enabled", source_id=source.id, start=start, estimate=count)
    return Answer({"source": source_json(enabled), "estimate": estimate})


def disable_source(call: ApiCall) -> Answer:
    """POST /api/v1/mail-sources/{source_id}/disable: polling stops; the position is kept."""
    source = find_source(call)
    disabled = call.runtime.sources.set_enabled(call.tenant.id, source.id, False)
    if disabled is None:
        raise ApiError(404, f"no mail source with id {source.id}")
    log_action(call, "source_disabled", source_id=source.id)
    return Answer({"source": source_json(disabled)})


def poll_now(call: ApiCall) -> Answer:
    """POST /api/v1/mail-sources/{source_id}/poll: start a poll and answer at once (202); its
    progress is at the Location given (`poll_status`) and on the source in the list."""
    source = find_source(call)
    if not source.enabled:
        raise ApiError(409, "enable the source before polling it: enabling sets where to start")
    running = poll_progress(call.runtime.engine, call.tenant.id).get(source.id)
    if running is None or running.state != "running":  # else the admin follows that one
        call.polls.start(call.runtime, source.id)
    log_action(call, "source_poll_requested", source_id=source.id)
    location = f"{call.runtime.settings.base_path}/api/v1/mail-sources/{source.id}/poll"
    return Answer({"poll": _progress(call, source)}, status=202, headers={"Location": location})


def poll_status(call: ApiCall) -> Answer:
    """GET /api/v1/mail-sources/{source_id}/poll: how far the latest poll got, or that one
    was asked for and has not started yet."""
    source = find_source(call)
    return Answer({"poll": _progress(call, source)})


def _progress(call: ApiCall, source: MailSource) -> dict[str, Any] | None:
    progress = poll_progress(call.runtime.engine, call.tenant.id).get(source.id)
    return poll_json(progress, source) if progress is not None else None


def _saved_config(call: ApiCall, source: MailSource, spec: SourceSpec) -> SourceConfig:
    """A saved source's connection: its OAuth sign-in, or the password (the body's first)."""
    if not source.spec.uses_oauth:
        password = spec.password or call.runtime.sources.password(source.id)
        return _config(call, spec, password, source.label)
    try:
        provider = token_provider(call.runtime.sources, source)
    except SourceAuthError as exc:
        raise ApiError(409, str(exc), field="oauth") from exc
    try:
        return spec.connection_config(
            password=None,
            access_token=provider,
            source_id=source.label,
            host_policy=call.runtime.host_policy,
        )
    except SourceConfigError as exc:
        raise ApiError.invalid(exc) from exc


def _config(call: ApiCall, spec: SourceSpec, password: str | None, label: str) -> SourceConfig:
    if spec.uses_oauth:
        raise ApiError(409, "a source that signs in with OAuth is tested once it is saved")
    if not password:
        raise ApiError(400, "password: is required to connect", field="password")
    try:
        return spec.connection_config(
            password=password, source_id=label, host_policy=call.runtime.host_policy
        )
    except SourceConfigError as exc:
        raise ApiError.invalid(exc) from exc


def _stored_cursor(source: MailSource) -> Cursor | None:
    """The saved position, if there is one of the kind this source's protocol reads."""
    if not source.cursor:
        return None
    try:
        cursor = cursor_from_json(source.cursor)
    except ValueError:
        return None
    wanted = {"imap": ImapCursor, "pop3": Pop3Cursor}.get(source.spec.protocol)
    return cursor if wanted is not None and isinstance(cursor, wanted) else None


def _enable_options(options: dict[str, Any]) -> tuple[datetime | None, bool, bool]:
    unknown = set(options) - _ENABLE_OPTIONS
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(400, f"{name}: is not an option of enable", field=name)
    for name in ("acknowledge", "skip_existing"):
        if not isinstance(options.get(name, False), bool):
            raise ApiError(400, f"{name}: must be true or false", field=name)
    raw_since = options.get("process_existing_since")
    since = None if raw_since is None else _since(raw_since)
    if since is not None and options.get("skip_existing"):
        raise ApiError(
            400,
            "skip_existing: cannot be combined with process_existing_since",
            field="skip_existing",
        )
    return since, bool(options.get("acknowledge")), bool(options.get("skip_existing"))


def _since(value: object) -> datetime:
    """The start of the given day (or the moment given) in UTC; mail servers search by day."""
    field = "process_existing_since"
    if not isinstance(value, str):
        raise ApiError(400, f"{field}: must be an ISO date such as 2025-01-31", field=field)
    try:
        moment = (
            datetime.combine(date.fromisoformat(value), time(), UTC)
            if len(value) == 10
            else datetime.fromisoformat(value)
        )
    except ValueError as exc:
        raise ApiError(400, f"{field}: {exc}", field=field) from exc
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > datetime.now(UTC):
        raise ApiError(400, f"{field}: must not be in the future", field=field)
    return moment


def _connection_refused(exc: SourceError) -> ApiError:
    """The connection failed: which step, in the server's words; nothing was changed."""
    extra: dict[str, Any] = {}
    if isinstance(exc, SourceAuthError):
        status, field, extra["step"] = 400, "password", "authenticate"
        extra["server_message"] = exc.server_message
    elif isinstance(exc, FolderNotFound):
        status, field, extra["step"] = 400, "folder", "folder"
    elif isinstance(exc, SourceConfigError):
        status, field, extra["step"] = 400, exc.field, "settings"
    else:
        status, field = 502, None
        extra["step"] = "tls" if isinstance(exc, SourceTlsError) else "connect"
    return ApiError(status, f"the source was not enabled: {exc}", field=field, extra=extra)
