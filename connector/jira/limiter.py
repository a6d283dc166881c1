"""Jira's rate limits kept for every worker at once: what `RetryingSession` asks before each
request to a site, and tells after it.

Before a request: no pause Jira asked for is in force (the app's, the site's, the endpoint's,
the issue's; for low-priority work also "near the limit"): a short one is slept through, a
long one raises `JiraPaused` (the client turns it into a retryable error, so the message or
notification is postponed, not failed). Writes to one issue are spaced in this process to
Jira's 20 per 2 s and 100 per 30 s. Then a slot of the site's bound is taken (at most N
requests in flight per site across all workers; low-priority work may use all but one of
them, so new customer mail always finds one). After: what Jira's answer asks
(`connector.jira.limits.interpret`) is recorded where every worker sees it.

The store is a protocol so the Jira side knows no SQL; `connector.storage.jira_limits`
implements it and `connector.runtime` wires the two.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol

from connector.jira.limits import (
    WRITE_METHODS,
    NearLimit,
    PauseApp,
    PauseSite,
    Priority,
    SlowEndpoint,
    SpaceIssueWrites,
    endpoint_of,
    interpret,
    issue_of,
)

# Jira's per-issue write limits (20 in 2 s, 100 in 30 s), counted a tenth longer: our clock
# starts when a write is let go, Jira's when it arrives, and the delay between varies.
ISSUE_WRITE_WINDOWS = ((20, 2.2), (100, 33.0))
# A request waiting for a slot looks again after this long, doubling up to `SLOT_POLL_MOST`;
# a slot freed by this process wakes one of its requests waiting for that site at once, so
# the looks only need to find the slots other workers free. (Each look is a statement: ten
# requests looking every 50 ms kept the database and the workers busy with nothing else.)
SLOT_POLL_SECONDS = 0.05
SLOT_POLL_MOST = 0.2
# How long after a request of this process found all of a site's slots taken the site counts
# as crowded (`SiteLimiter.crowded` then asks the store); a site with room costs nothing.
CROWDED_SECONDS = 2.0


class StoredPauseLike(Protocol):
    @property
    def scope(self) -> str: ...
    @property
    def until(self) -> datetime: ...
    @property
    def reason(self) -> str: ...


class LimitStore(Protocol):
    def pause(self, scope: str, site: str, target: str, until: datetime, reason: str) -> None: ...
    def active(
        self, site: str, targets: Iterable[str], now: datetime
    ) -> Sequence[StoredPauseLike]: ...
    def enter(
        self,
        site: str,
        slots: int,
        holder: str,
        now: datetime,
        lease: timedelta,
        targets: Iterable[str],
        *,
        near_limits: bool,
    ) -> tuple[int | None, Sequence[StoredPauseLike]]:
        """A slot (None when all are taken or a pause holds the request, which then has no
        slot) and the pauses holding the request, in one transaction."""
        ...
    def free_slot(self, site: str, slot: int, holder: str) -> None: ...
    def held(self, site: str, slots: int, now: datetime) -> int:
        """How many of the site's first `slots` slots are held now, by any worker."""
        ...
    def site_pauses(self, sites: Iterable[str], now: datetime) -> Mapping[str, StoredPauseLike]: ...


def wait_message(until: datetime) -> str:
    """What an admin reads: "Jira asked us to wait until 14:00 UTC"."""
    return f"Jira asked us to wait until {until.astimezone(UTC):%H:%M} UTC"


class JiraPaused(Exception):
    """No request may go to this site before `until`; try again then."""

    def __init__(self, until: datetime, reason: str, message: str | None = None) -> None:
        self.until = until
        self.reason = reason
        super().__init__(message or wait_message(until))


class IssueWriteSpacing:
    """Writes to one issue within Jira's windows, in this process: how long the next must wait."""

    def __init__(self, windows: tuple[tuple[int, float], ...] = ISSUE_WRITE_WINDOWS) -> None:
        self._windows = windows
        self._longest = max(seconds for _, seconds in windows)
        self._sent: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def reserve(self, key: str, now: float) -> float:
        """Seconds to wait before writing to `key`; the write is counted at that time."""
        with self._lock:
            sent = self._sent[key]
            while sent and sent[0] <= now - self._longest:
                sent.popleft()
            start = now
            for count, seconds in self._windows:
                if len(sent) >= count:
                    start = max(start, sent[-count] + seconds)
            sent.append(start)
            return start - now


class SiteLimiter:
    def __init__(
        self,
        store: LimitStore,
        *,
        slots_per_site: int = 4,
        lease: timedelta = timedelta(seconds=90),
        slot_wait_seconds: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.slots_per_site = max(1, slots_per_site)
        self._lease = lease
        self._slot_wait = slot_wait_seconds
        self._clock = clock
        self._sleep = sleep
        self._spacing = IssueWriteSpacing()
        self._holder = uuid.uuid4().hex
        self._full_at: dict[str, float] = {}  # site -> when a request last found no slot
        self._freed: dict[str, threading.Condition] = {}  # site -> a slot of ours freed

    @contextmanager
    def admit(
        self, site: str, method: str, url: str, priority: Priority, *, max_wait: float
    ) -> Iterator[None]:
        """Hold a slot of `site` for one request, once no pause forbids it; raises
        `JiraPaused` when one lasts longer than `max_wait` seconds or no slot frees in time."""
        endpoint = endpoint_of(method, url)
        issue = issue_of(url) if method.upper() in WRITE_METHODS else None
        if issue:
            self._sleep_for(self._spacing.reserve(f"{site} {issue}", time.monotonic()))
        targets = [endpoint, *([issue] if issue else [])]
        slot = self._enter(site, targets, priority, max_wait)
        try:
            yield
        finally:
            self.store.free_slot(site, slot, self._holder)
            freed = self._freed_slot(site)
            with freed:
                freed.notify()

    def observe(
        self, site: str, method: str, url: str, status: int, headers: Mapping[str, str]
    ) -> None:
        """Record what Jira's answer asks of every worker."""
        verdict = interpret(status, headers, method=method, url=url, now=self._clock())
        if isinstance(verdict, PauseApp):
            self.store.pause("app", "", "", verdict.until, verdict.reason)
        elif isinstance(verdict, PauseSite):
            self.store.pause("site", site, "", verdict.until, verdict.reason)
        elif isinstance(verdict, SlowEndpoint):
            self.store.pause("endpoint", site, verdict.endpoint, verdict.until, verdict.reason)
        elif isinstance(verdict, SpaceIssueWrites):
            self.store.pause("issue", site, verdict.issue, verdict.until, verdict.reason)
        elif isinstance(verdict, NearLimit):
            scope, where = ("near-app", "") if verdict.app_wide else ("near-site", site)
            self.store.pause(scope, where, "", verdict.until, "near-limit")

    def site_pause(self, site: str) -> JiraPaused | None:
        """Why nothing may be sent to `site` now (the app's pause or the site's), if so."""
        found = self.store.site_pauses([site], self._clock()).get(site)
        return None if found is None else JiraPaused(found.until, found.reason)

    def crowded(self, site: str) -> bool:
        """Whether a customer request to `site` would wait for a slot now (every one held,
        by any worker): work that can wait its turn elsewhere (a queued delivery, which
        would hold a worker's job slot while it waits) gives way. The store is asked only
        while a request of this process found the site full in the last `CROWDED_SECONDS`."""
        found_full = self._full_at.get(site)
        if found_full is None or time.monotonic() - found_full > CROWDED_SECONDS:
            return False
        return self.store.held(site, self.slots_per_site, self._clock()) >= self.slots_per_site

    def _enter(self, site: str, targets: list[str], priority: Priority, max_wait: float) -> int:
        """A slot of `site`, once no pause holds the request: a short pause is slept through,
        a long one (or no slot freeing within the slot wait) raises `JiraPaused`."""
        # Low-priority work leaves one slot to customer mail (when there is more than one),
        # and also waits when Jira says the budget is nearly spent.
        slots = self.slots_per_site
        low = priority is Priority.LOW
        if low and slots > 1:
            slots -= 1
        deadline = time.monotonic() + self._slot_wait
        look = SLOT_POLL_SECONDS
        while True:
            slot, pauses = self.store.enter(
                site, slots, self._holder, self._clock(), self._lease, targets, near_limits=low
            )
            if slot is not None:
                return slot
            if pauses:
                pause = max(pauses, key=lambda found: found.until)
                wait = (pause.until - self._clock()).total_seconds()
                if wait > max_wait:
                    raise JiraPaused(pause.until, pause.reason)
                self._sleep_for(wait)
                deadline = time.monotonic() + self._slot_wait
                continue
            self._full_at[site] = time.monotonic()
            if time.monotonic() >= deadline:
                until = self._clock() + timedelta(seconds=self._slot_wait)
                raise JiraPaused(until, "busy", f"{site} has {slots} requests in flight")
            freed = self._freed_slot(site)
            with freed:
                freed.wait(look)
            look = min(SLOT_POLL_MOST, look * 2)

    def _freed_slot(self, site: str) -> threading.Condition:
        found = self._freed.get(site)
        return found if found is not None else self._freed.setdefault(site, threading.Condition())

    def _sleep_for(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)
