"""The endings of an attempt, written to the message's email-log row.

A message ends once, with a final outcome (`finish`), or is postponed with a time for the
next attempt. Failures Jira says are transient are retried with backoff; when
`connector.retry.INBOUND_MAIL` gives up the message is quarantined (`failed`, with the
reason) so one bad message never blocks a mailbox. A pause Jira asked for (its rate limits,
`JiraWaiting`: the call was never sent) is not a failure of the message: it waits until the
pause ends however long that takes, and is never quarantined for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector import logs
from connector.jira.errors import JiraError, JiraWaiting
from connector.outcomes import Outcome
from connector.pipeline.message import Trail
from connector.retry import INBOUND_MAIL, Quarantine
from connector.storage.db import Write
from connector.storage.email_log import EmailLog, LogEntry

log = logging.getLogger(__name__)

# The least a paused message waits: the shared pause may end sooner than Jira's reset is read.
MIN_PAUSE_WAIT = timedelta(seconds=30)


@dataclass(frozen=True)
class Processed:
    """What one attempt came to, for the poll: its counts, post-action and acknowledgement."""

    outcome: Outcome  # a final outcome, or `pending` when postponed
    reason: str
    issue_key: str | None = None
    retry_at: datetime | None = None

    @property
    def final(self) -> bool:
        return self.outcome.final


class Recorder:
    def __init__(self, email_log: EmailLog, clock: Callable[[], datetime]) -> None:
        self._log = email_log
        self._clock = clock

    def postpone(
        self, entry: LogEntry, reason: str, until: datetime, steps: Sequence[str]
    ) -> Processed:
        self._log.postpone(entry.id, reason, until, steps)
        return Processed(Outcome.PENDING, reason, retry_at=until)

    def failed_call(self, entry: LogEntry, exc: JiraError, attempt: int, trail: Trail) -> Processed:
        reason = f"Jira: {exc}"
        if not exc.retryable:
            return self.finish(entry, Outcome.FAILED, reason, trail)
        if isinstance(exc, JiraWaiting):
            until = self._clock() + max(MIN_PAUSE_WAIT, timedelta(seconds=exc.retry_after or 0))
            trail.add(f"{reason}; waiting until {until.isoformat(timespec='seconds')}")
            logs.event(log, "mail.paused", entry_id=entry.id, attempt=attempt)
            return self.postpone(entry, reason, until, trail.steps)
        return self.retry_later(
            entry, reason, attempt, trail, retry_after=exc.retry_after or 0, status=exc.status
        )

    def retry_later(
        self,
        entry: LogEntry,
        reason: str,
        attempt: int,
        trail: Trail,
        *,
        retry_after: float = 0,
        status: int | None = None,
    ) -> Processed:
        retry_at = INBOUND_MAIL.next_attempt(attempt, self._clock(), retry_after)
        if isinstance(retry_at, Quarantine):
            return self.finish(entry, Outcome.FAILED, retry_at.reason(reason), trail)
        trail.add(f"{reason}; retry at {retry_at.isoformat(timespec='seconds')}")
        postponed = self.postpone(entry, reason, retry_at, trail.steps)
        logs.event(log, "mail.postponed", entry_id=entry.id, attempt=attempt, status=status)
        return postponed

    def finish(
        self,
        entry: LogEntry,
        outcome: Outcome,
        reason: str,
        trail: Trail,
        *,
        issue_key: str | None = None,
        also: Write | None = None,
    ) -> Processed:
        """The final outcome; `also` (the issue's participants) commits with it."""
        if trail.unreadable:
            if issue_key is not None:
                reason = f"{reason}; it {trail.unreadable}: the original is attached"
            else:
                reason = f"it {trail.unreadable}; {reason}"
        self._log.finish(
            entry.id, outcome, reason, issue_key=issue_key, trail=trail.steps, also=also
        )
        logs.event(
            log,
            "mail.processed",
            entry_id=entry.id,
            source_id=entry.source_id,
            outcome=outcome,
            issue_key=issue_key or "-",
        )
        return Processed(outcome, reason, issue_key)
