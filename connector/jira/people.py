"""Who has a Jira account, by address: remembered per tenant across polls, briefly.

Each message asks whether its sender (and, for service projects, each Cc) has a Jira account.
One user search per message would be most of a poll's Jira calls for a busy mailbox, and the
answer rarely changes, so answers (including "no account") live here for `ttl_seconds`, shared
by every poll of the tenant. A tenant's entries are dropped when its workaround user changes,
since what a search can see depends on who asks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from connector.drafts import JiraPerson

DEFAULT_TTL_SECONDS = 300.0
MAX_ENTRIES = 50_000


@dataclass(frozen=True)
class _Entry:
    expires: float
    person: JiraPerson | None


class PeopleCache:
    """Thread-safe: polls of one tenant run in parallel."""

    def __init__(
        self,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[tuple[int, str, str], _Entry] = {}
        self._lock = threading.Lock()

    def for_tenant(self, tenant_id: int) -> TenantPeople:
        return TenantPeople(self, tenant_id)

    def lookup(self, tenant_id: int, kind: str, address: str) -> tuple[bool, JiraPerson | None]:
        """(known, person): `known` is False when nothing fresh is remembered."""
        key = (tenant_id, kind, address.strip().lower())
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.expires <= self._clock():
                return False, None
            return True, entry.person

    def remember(self, tenant_id: int, kind: str, address: str, person: JiraPerson | None) -> None:
        key = (tenant_id, kind, address.strip().lower())
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                now = self._clock()
                self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
            self._entries[key] = _Entry(self._clock() + self._ttl, person)

    def forget(self, tenant_id: int) -> None:
        with self._lock:
            self._entries = {k: e for k, e in self._entries.items() if k[0] != tenant_id}


@dataclass(frozen=True)
class TenantPeople:
    """One tenant's view of the cache: what a tracker is given."""

    cache: PeopleCache
    tenant_id: int

    def lookup(self, kind: str, address: str) -> tuple[bool, JiraPerson | None]:
        return self.cache.lookup(self.tenant_id, kind, address)

    def remember(self, kind: str, address: str, person: JiraPerson | None) -> None:
        self.cache.remember(self.tenant_id, kind, address, person)
