"""Jira Cloud's 2026 rate limits as the fake Jira plays them, with Atlassian's headers.

- The hourly points pool, of the app (Tier 1, `global-app-quota`) or of the site (Tier 2,
  `tenant-app-quota`): here every request costs one point (Jira charges more for some) and the
  window is short so tests need not wait an hour. An empty pool answers 429 with
  `RateLimit-Reason: jira-quota-global-based` or `jira-quota-tenant-based`, `Retry-After`,
  `X-RateLimit-Reset` (ISO 8601) and the policy headers; under 20% left, successful answers
  carry `X-RateLimit-NearLimit: true` and `RateLimit: "<policy>";r=<left>;t=<seconds>`.
- The burst limit: a token bucket per endpoint and method (`jira-burst-based`).
- Per-issue writes: 20 in 2 s and 100 in 30 s (`jira-per-issue-on-write`).

It also counts requests that arrive while a wait it announced is in force (`early`): the
connector must send none.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

WRITE_METHODS = {"POST", "PUT", "DELETE"}
_ISSUE = re.compile(r"/rest/(?:api/\d+/issue|servicedeskapi/request)/([^/]+)")


@dataclass
class Limited:
    """A 429 to answer, or headers to add to a good answer (`status` 0)."""

    status: int
    headers: dict[str, str]


@dataclass
class RateLimits:
    points: int | None = None  # the pool's size per window; None: no quota
    tier: str = "global"  # "global" (the app's pool) or "tenant" (the site's)
    window_seconds: float = 3600.0
    burst_per_second: float | None = None
    per_issue: bool = False
    early: int = 0  # requests that came before a wait we announced had ended
    answered_429: list[str] = field(default_factory=list)
    _used: int = 0
    _window_start: float = field(default_factory=time.monotonic)
    _not_before: dict[str, float] = field(default_factory=dict)
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _writes: defaultdict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, method: str, path: str) -> Limited:
        now = time.monotonic()
        with self._lock:
            endpoint = f"{method} {path}"
            found = _ISSUE.search(path)
            issue = found.group(1) if found and method in WRITE_METHODS else None
            scopes = ["pool", endpoint, *([f"issue {issue}"] if issue else [])]
            if any(now < self._not_before.get(scope, 0.0) for scope in scopes):
                self.early += 1
            if now - self._window_start >= self.window_seconds:
                self._window_start, self._used = now, 0
            if self.points is not None and self._used >= self.points:
                reset = self._window_start + self.window_seconds
                return self._refuse("pool", self._quota_reason(), reset - now, now, until=reset)
            if self.burst_per_second and not self._take_token(endpoint, now):
                return self._refuse(endpoint, "jira-burst-based", 1.0, now)
            if issue and self.per_issue and not self._write_allowed(issue, now):
                return self._refuse(f"issue {issue}", "jira-per-issue-on-write", 1.0, now)
            if issue:
                self._writes[issue].append(now)
            self._used += 1
            return Limited(0, self._pool_headers(now))

    def _quota_reason(self) -> str:
        return "jira-quota-global-based" if self.tier == "global" else "jira-quota-tenant-based"

    def _policy(self) -> str:
        return "global-app-quota" if self.tier == "global" else "tenant-app-quota"

    def _refuse(
        self, scope: str, reason: str, seconds: float, now: float, until: float | None = None
    ) -> Limited:
        """429 for `scope`; requests for it before `until` (else the `Retry-After`) are early."""
        wait = max(1, math.ceil(seconds))
        self._not_before[scope] = now + wait if until is None else until
        self.answered_429.append(reason)
        reset = datetime.now(UTC) + timedelta(seconds=wait)
        headers = {
            "Retry-After": str(wait),
            "RateLimit-Reason": reason,
            "X-RateLimit-Reset": reset.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        if scope == "pool":
            headers.update(self._pool_headers(now))
        return Limited(429, headers)

    def _pool_headers(self, now: float) -> dict[str, str]:
        if self.points is None:
            return {}
        left = max(0, self.points - self._used)
        reset_in = max(0, math.ceil(self._window_start + self.window_seconds - now))
        headers = {
            "X-RateLimit-Limit": str(self.points),
            "X-RateLimit-Remaining": str(left),
            "RateLimit-Policy": f'"{self._policy()}";q={self.points};w={int(self.window_seconds)}',
        }
        if left < self.points * 0.2:
            headers["X-RateLimit-NearLimit"] = "true"
            headers["RateLimit"] = f'"{self._policy()}";r={left};t={reset_in}'
        return headers

    def _take_token(self, endpoint: str, now: float) -> bool:
        rate = self.burst_per_second or 0.0
        tokens, then = self._buckets.get(endpoint, (rate, now))
        tokens = min(rate, tokens + (now - then) * rate)
        if tokens < 1:
            self._buckets[endpoint] = (tokens, now)
            return False
        self._buckets[endpoint] = (tokens - 1, now)
        return True

    def _write_allowed(self, issue: str, now: float) -> bool:
        sent = self._writes[issue]
        while sent and sent[0] <= now - 30:
            sent.popleft()
        in_two = sum(1 for at in sent if at > now - 2)
        return in_two < 20 and len(sent) < 100
