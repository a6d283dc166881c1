"""What the email log can be narrowed to besides source, outcome and text: a date range, the
Jira project or issue a message went to, its sender; the failed messages per source that
the sources list counts; and "process anyway" for a message the filters ignored.

A message's project is the one its issue is in (the issue key's prefix) or, for one that
never reached Jira (failed, ignored), the project its route chose: both are in the log row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Text, func, literal, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.outcomes import Outcome
from connector.storage.models import EmailLogRow
from connector.storage.times import utc_now


@dataclass(frozen=True)
class LogFilters:
    sender: str = ""  # part of the address or name, any case
    issue_key: str = ""  # exactly, any case
    project_key: str = ""
    received_from: datetime | None = None  # inclusive
    received_before: datetime | None = None  # exclusive

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.sender.strip():
            pattern = f"%{self.sender.strip().lower()}%"
            found.append(
                or_(
                    col(EmailLogRow.sender).ilike(pattern),
                    col(EmailLogRow.sender_name).ilike(pattern),
                )
            )
        if self.issue_key.strip():
            found.append(func.upper(col(EmailLogRow.issue_key)) == self.issue_key.strip().upper())
        if self.project_key.strip():
            key = self.project_key.strip().upper()
            # The route is stored as JSON text (`Route.to_json`, json.dumps' own spacing).
            routed = json.dumps({"project_key": key})[1:-1]
            found.append(
                or_(
                    col(EmailLogRow.issue_key).like(f"{key}-%"),
                    col(EmailLogRow.route).contains(routed),
                )
            )
        if self.received_from is not None:
            found.append(col(EmailLogRow.received_at) >= self.received_from)
        if self.received_before is not None:
            found.append(col(EmailLogRow.received_at) < self.received_before)
        return found


def failed_per_source(engine: Engine, tenant_id: int) -> dict[int, int]:
    """How many of each source's messages ended failed (and were not retried since)."""
    with Session(engine) as session:
        rows = session.exec(
            select(EmailLogRow.source_id, func.count())
            .where(
                EmailLogRow.tenant_id == tenant_id,
                EmailLogRow.outcome == Outcome.FAILED,
            )
            .group_by(col(EmailLogRow.source_id))
        ).all()
        return {int(source_id): int(count) for source_id, count in rows}


# Put before the reason it was ignored for, when an admin asks to process it anyway.
PROCESS_ANYWAY_REASON = "processing anyway, as an admin asked; it had been ignored: "


def process_anyway(engine: Engine, tenant_id: int, entry_id: int) -> bool:
    """Make an ignored message pending again, with the source's filters off for it (the
    admin knows better: not an auto-reply, not an unwanted sender). False when it is absent,
    not ignored, or its stored copy is gone; one conditional UPDATE, as `EmailLog.reopen`."""
    with Session(engine) as session:
        result = session.execute(
            update(EmailLogRow)
            .where(
                col(EmailLogRow.id) == entry_id,
                col(EmailLogRow.tenant_id) == tenant_id,
                col(EmailLogRow.outcome) == Outcome.IGNORED,
                col(EmailLogRow.raw_encrypted).is_not(None),
            )
            .values(
                outcome=Outcome.PENDING,
                attempts=0,
                next_attempt_at=None,
                process_anyway=True,
                reason=literal(PROCESS_ANYWAY_REASON, Text) + col(EmailLogRow.reason),
                updated_at=utc_now(),
            )
        )
        session.commit()
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
