"""Polls an admin asked for, and how far a source's latest poll got.

"Poll now" does not hold the admin's request for the length of a poll (hundreds of messages
take longer than proxies wait). Where a separate worker process polls, the request is a
timestamp on the source (`request_poll`) that the worker's scheduler picks up on its next tick
(`requested_polls`); taking the poll's lease clears it (`SourceRepository.lease`), which also
notes when the poll started.

Progress needs nothing from the poll itself: every message a poll touches is written to the
email log before anything else happens to it, so the rows of the source updated since the
poll started are its messages so far: fetched (every one), processed (a final outcome) and
failed. Once the poll has recorded its end (`last_poll_at`), the window closes there, so a
later retry of a failed message takes it off the poll's failures.

Where delivery is separate work (the queue engine, `connector.handoff`), a poll only fetches:
its record says how many messages it queued, and their outcomes come later, from delivery
jobs on any worker. The poll's messages are then also the rows it recorded and queued
(`received_at` in the window: a row is recorded once, by the fetch that first lists the
message), counted with the outcome they have now, so what a delivery came to (created,
commented, failed...) shows on the poll that fetched the message, and those still waiting
for their delivery are `queued`. The fetch that follows the deliveries does their
post-actions, which touches their rows (`Deliveries.post_actions_done`): that poll, the
latest now, shows them too. Nothing is counted as it happens: a delivery only writes its own
log row, as it must anyway, so many workers delivering one source's mail contend on no
shared counter, a job run twice (a stalled worker's, put back) counts once, and the figures
cannot drift from the log. The query is the one progress always made (the source's rows, by
`source_id`'s index). SQLite's polls queue nothing, so what they show is as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlalchemy import select as sql_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.outcomes import FINAL_OUTCOMES, Outcome
from connector.storage.models import EmailLogRow, MailSourceRow
from connector.storage.source_rows import of_active_tenants
from connector.storage.times import as_utc_or_none, utc_now


@dataclass(frozen=True)
class PollProgress:
    """Where a source's polling stands: `requested` (waiting for a worker), `running`, or
    `idle` with the latest poll's figures."""

    state: str
    requested_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    fetched: int = 0
    processed: int = 0
    failed: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)  # final outcome -> messages
    # Fetched and waiting for their delivery job (not final, not postponed); SQLite: none.
    queued: int = 0


def request_poll(engine: Engine, source_id: int) -> None:
    """Ask for a poll of the source soon; asking again before it starts asks once."""
    with Session(engine) as session:
        session.execute(
            update(MailSourceRow)
            .where(
                col(MailSourceRow.id) == source_id,
                col(MailSourceRow.poll_requested_at).is_(None),
            )
            .values(poll_requested_at=utc_now())
        )
        session.commit()


def drop_request(engine: Engine, source_id: int) -> None:
    """The request is answered without a poll of its own: one was running when it came."""
    with Session(engine) as session:
        session.execute(
            update(MailSourceRow)
            .where(col(MailSourceRow.id) == source_id)
            .values(poll_requested_at=None)
        )
        session.commit()


def requested_polls(engine: Engine) -> list[int]:
    """Enabled sources of active tenants with a poll asked for and not started yet."""
    with Session(engine) as session:
        rows = session.exec(
            of_active_tenants(select(MailSourceRow.id)).where(
                col(MailSourceRow.poll_requested_at).is_not(None),
                col(MailSourceRow.enabled).is_(True),
            )
        ).all()
        return [int(source_id) for source_id in rows if source_id is not None]


def poll_progress(engine: Engine, tenant_id: int) -> dict[int, PollProgress]:
    """Each of the tenant's sources that was ever polled or asked to be, by source id."""
    now = utc_now()
    source = MailSourceRow
    # The latest poll's window: from its start to its end, or to now while it runs. Its rows:
    # those touched in it, and those it recorded and queued for a delivery job (the split:
    # `thread_key` is set) whose delivery came after it. SQLite's polls queue nothing.
    finished = and_(
        col(source.last_poll_at).is_not(None),
        col(source.last_poll_at) >= col(source.poll_started_at),
    )

    def within(moment: Any) -> Any:
        return and_(
            moment >= col(source.poll_started_at),
            or_(~finished, moment <= col(source.last_poll_at)),
        )

    log = EmailLogRow
    queued_in_poll = and_(col(log.thread_key).is_not(None), within(col(log.received_at)))
    in_window = and_(
        col(log.source_id) == col(source.id),
        or_(within(col(log.updated_at)), queued_in_poll),
    )
    # Waiting for its delivery job: what `Deliveries.in_flight` counts, once it is pending.
    in_flight = and_(col(log.post_action_due).is_(True), col(log.next_attempt_at).is_(None))
    polled = or_(
        col(source.poll_started_at).is_not(None), col(source.poll_requested_at).is_not(None)
    )
    columns: list[Any] = [
        col(source.id),
        col(source.poll_requested_at),
        col(source.poll_started_at),
        col(source.last_poll_at),
        col(source.lease_expires_at),
    ]
    with Session(engine) as session:
        sources = session.execute(
            sql_select(*columns).where(col(source.tenant_id) == tenant_id, polled)
        ).all()
        outcomes = session.execute(
            sql_select(col(source.id), col(log.outcome), in_flight, func.count())
            .join(log, in_window)
            .where(col(source.tenant_id) == tenant_id, polled)
            .group_by(col(source.id), col(log.outcome), in_flight)
        ).all()
    counts: dict[int, dict[str, int]] = {}
    queued: dict[int, int] = {}
    for source_id, outcome, waiting, number in outcomes:
        by_outcome = counts.setdefault(int(source_id), {})
        by_outcome[str(outcome)] = by_outcome.get(str(outcome), 0) + int(number)
        if Outcome(outcome) not in FINAL_OUTCOMES and waiting:
            queued[int(source_id)] = queued.get(int(source_id), 0) + int(number)
    found: dict[int, PollProgress] = {}
    for source_id, requested, started, last, lease_end in sources:
        started_at, last_at = as_utc_or_none(started), as_utc_or_none(last)
        lease = as_utc_or_none(lease_end)
        done = started_at is not None and last_at is not None and last_at >= started_at
        if lease is not None and lease > now and not done:
            state = "running"
        elif requested is not None:
            state = "requested"
        else:
            state = "idle"
        by_outcome = counts.get(int(source_id), {})
        found[int(source_id)] = PollProgress(
            state=state,
            requested_at=as_utc_or_none(requested),
            started_at=started_at,
            finished_at=last_at if done else None,
            fetched=sum(by_outcome.values()),
            processed=sum(n for o, n in by_outcome.items() if Outcome(o) in FINAL_OUTCOMES),
            failed=by_outcome.get(str(Outcome.FAILED), 0),
            counts={o: n for o, n in by_outcome.items() if Outcome(o) in FINAL_OUTCOMES},
            queued=queued.get(int(source_id), 0),
        )
    return found
