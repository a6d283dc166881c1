"""One retry policy for everything we try again: how often, how long between, when to stop.

After a failed attempt the caller asks its policy `next_attempt(attempt, now, retry_after)`:
the answer is the time of the next attempt, or `Quarantine` once the attempts are spent (the
item then ends `failed` with its last error and the queue moves on: one bad item never blocks
the others; DESIGN.md, "Processing rules"). A server that said when to come back (`Retry-After`,
RFC 9110 section 10.2.3) is never asked sooner than that.

The policies in use are declared here, so their numbers can be read side by side:
`INBOUND_MAIL` (the pipeline), `OUTBOUND` (outgoing mail and Jira webhook events, in the
outbound worker) and `poll_backoff` (a mailbox whose poll failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Quarantine:
    """The attempts are spent: the item ends failed, saying how often it was tried."""

    attempts: int

    def reason(self, error: str) -> str:
        return f"{error} (gave up after {self.attempts} attempts)"


@dataclass(frozen=True)
class RetryPolicy:
    """`delays[n - 1]` is the wait after attempt n; past the end the last one repeats.
    `attempts` is how many attempts an item gets before quarantine; None: it never gives up
    (a mailbox is polled again however long it has been failing)."""

    delays: tuple[timedelta, ...]
    attempts: int | None = None

    def __post_init__(self) -> None:
        if not self.delays or min(self.delays) < timedelta(0):
            raise ValueError("a retry policy needs one or more delays, none negative")
        if self.attempts is not None and self.attempts < 1:
            raise ValueError("a retry policy allows at least one attempt")

    @classmethod
    def doubling(cls, first: timedelta, cap: timedelta, attempts: int | None = None) -> RetryPolicy:
        """`first`, twice that, four times, ... up to `cap`."""
        if first <= timedelta(0):
            raise ValueError("the first delay of a doubling policy must be positive")
        delays: list[timedelta] = []
        delay = first
        while delay < cap:
            delays.append(delay)
            delay *= 2
        return cls((*delays, cap), attempts)

    def delay(self, attempt: int) -> timedelta:
        """The wait after failed attempt number `attempt` (1 is the first)."""
        return self.delays[min(max(attempt, 1), len(self.delays)) - 1]

    def gives_up(self, attempt: int) -> bool:
        """Attempt number `attempt` is the last one."""
        return self.attempts is not None and attempt >= self.attempts

    def next_attempt(
        self, attempt: int, now: datetime, retry_after: float | None = None
    ) -> datetime | Quarantine:
        """When to try again after attempt number `attempt` failed at `now`, or Quarantine.
        `retry_after`: the seconds a server asked us to wait, if it said."""
        if self.gives_up(attempt):
            return Quarantine(attempt)
        return now + max(self.delay(attempt), timedelta(seconds=max(retry_after or 0, 0)))


def _minutes(*values: int) -> tuple[timedelta, ...]:
    return tuple(timedelta(minutes=value) for value in values)


# A message Jira could not take: tried five times over about an hour and a half.
INBOUND_MAIL = RetryPolicy(_minutes(1, 5, 15, 60), attempts=5)
# Outgoing mail and the Jira webhook events that make it: a greylisting mail server usually
# takes mail after a few minutes, so six attempts over about four and a half hours.
OUTBOUND = RetryPolicy(_minutes(1, 5, 15, 60, 180), attempts=6)
# A failing mailbox is polled again after twice its interval, doubling per failure.
MAX_POLL_BACKOFF = timedelta(minutes=60)


def poll_backoff(interval: timedelta) -> RetryPolicy:
    """The backoff of a mailbox polled every `interval` whose polls fail: it never gives up."""
    return RetryPolicy.doubling(interval * 2, MAX_POLL_BACKOFF)
