"""What Jira Cloud's rate-limit answers ask of us, read from a response's status and headers.

Pure: no IO, no clock of its own. Since 2026-03-02 Jira Cloud answers 429 for three limits
and names the one hit in `RateLimit-Reason`
(developer.atlassian.com/cloud/jira/platform/rate-limiting/):

- `jira-quota-global-based`: the app's hourly points pool, shared by every site that installed
  the app, is empty: nothing may be sent to any site until the reset.
- `jira-quota-tenant-based`: this site's own pool (granted after review) is empty: pause the site.
- `jira-burst-based`: a per-site, per-endpoint-and-method token bucket: slow that endpoint only.
- `jira-per-issue-on-write`: more than 20 writes in 2 s or 100 in 30 s to one issue: space out
  writes to that issue.

The time comes from `Retry-After` (seconds) and `X-RateLimit-Reset` (ISO 8601, on 429 only);
a quota pause lasts until the later of the two. `X-RateLimit-NearLimit: true` (under 20% of
the budget left), or a `RateLimit: "<policy>";r=<remaining>;t=<seconds>` whose remaining is
under a fifth of its `RateLimit-Policy` quota, asks low-priority work to wait. Reason strings
seen live have differed from the documented ones, so a 429 with an unknown reason falls back
to the policy names (`global-app-quota`, `tenant-app-quota`) and otherwise pauses the site.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from urllib.parse import urlsplit

GLOBAL_QUOTA = "jira-quota-global-based"
TENANT_QUOTA = "jira-quota-tenant-based"
BURST = "jira-burst-based"
PER_ISSUE_WRITE = "jira-per-issue-on-write"

NEAR_LIMIT_FRACTION = 0.2  # Jira sets X-RateLimit-NearLimit under 20% of the budget
BURST_DEFAULT = timedelta(seconds=1)  # token buckets refill within a second
PER_ISSUE_DEFAULT = timedelta(seconds=2)  # the shorter per-issue window
NEAR_LIMIT_DEFAULT = timedelta(seconds=60)
UNKNOWN_DEFAULT = timedelta(seconds=10)
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})

# An issue in a REST path: /rest/api/3/issue/{key}/..., /rest/servicedeskapi/request/{key}/...
_ISSUE_PATH = re.compile(r"/rest/(?:api/\d+/issue|servicedeskapi/request)/([^/]+)")
# Segments that name one object (an issue key, a numeric id) rather than an endpoint.
_OBJECT_SEGMENT = re.compile(r"^(?:\d+|[A-Za-z][A-Za-z0-9_]*-\d+)$")


class Priority(IntEnum):
    """Who is asking: new customer mail goes first; backlog imports and notifications yield
    when the budget runs low."""

    CUSTOMER = 0
    LOW = 1


@dataclass(frozen=True)
class PauseApp:
    """Send nothing to any site until `until` (the app's shared hourly pool is empty)."""

    until: datetime
    reason: str


@dataclass(frozen=True)
class PauseSite:
    until: datetime
    reason: str


@dataclass(frozen=True)
class SlowEndpoint:
    """`endpoint` is the method and path with object ids blanked: `GET /rest/api/3/issue/{}`."""

    endpoint: str
    until: datetime
    reason: str


@dataclass(frozen=True)
class SpaceIssueWrites:
    issue: str
    until: datetime
    reason: str


@dataclass(frozen=True)
class NearLimit:
    """Little budget left: low-priority work waits until `until`. `app_wide` when the
    policy named is the app's global pool."""

    until: datetime
    app_wide: bool
    remaining: int | None = None


Verdict = PauseApp | PauseSite | SlowEndpoint | SpaceIssueWrites | NearLimit


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date, RFC 9110 10.2.3)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def endpoint_of(method: str, url: str) -> str:
    """The endpoint a burst limit applies to: method and path, object ids blanked."""
    path = urlsplit(url).path
    parts = path.split("/")
    segments = [
        "{}" if _OBJECT_SEGMENT.match(part) and parts[i - 1] != "api" else part
        for i, part in enumerate(parts)
    ]
    return f"{method.upper()} {'/'.join(segments)}"


def issue_of(url: str) -> str | None:
    """The issue a REST path writes to, if any (`POST /rest/api/3/issue` has none yet)."""
    found = _ISSUE_PATH.search(urlsplit(url).path)
    return found.group(1) if found else None


def interpret(
    status: int, headers: Mapping[str, str], *, method: str, url: str, now: datetime
) -> Verdict | None:
    """What this answer asks of us; None when it asks nothing."""
    lowered = {key.lower(): value for key, value in headers.items()}
    if status == 429:
        return _on_429(lowered, method=method, url=url, now=now)
    if status >= 400:
        return None
    return _near_limit(lowered, now)


def _on_429(headers: Mapping[str, str], *, method: str, url: str, now: datetime) -> Verdict:
    reason = headers.get("ratelimit-reason") or headers.get("beta-ratelimit-reason") or ""
    reason = reason.strip().strip('"').lower()
    advised = _retry_after(headers, now)
    reset = _reset_at(headers)
    if reason not in (GLOBAL_QUOTA, TENANT_QUOTA, BURST, PER_ISSUE_WRITE):
        policies = {name for name, _ in _structured(headers.get("ratelimit-policy", ""))}
        if "global-app-quota" in policies:
            reason = GLOBAL_QUOTA
        elif "tenant-app-quota" in policies:
            reason = TENANT_QUOTA
    if reason == GLOBAL_QUOTA:
        return PauseApp(_latest(advised, reset) or _next_hour(now), reason)
    if reason == TENANT_QUOTA:
        return PauseSite(_latest(advised, reset) or _next_hour(now), reason)
    if reason == PER_ISSUE_WRITE:
        until = advised or now + PER_ISSUE_DEFAULT
        issue = issue_of(url)
        if issue is not None:
            return SpaceIssueWrites(issue, until, reason)
        return SlowEndpoint(endpoint_of(method, url), until, reason)
    if reason == BURST:
        return SlowEndpoint(endpoint_of(method, url), advised or now + BURST_DEFAULT, reason)
    return PauseSite(_latest(advised, reset) or now + UNKNOWN_DEFAULT, reason or "unknown")


def _near_limit(headers: Mapping[str, str], now: datetime) -> NearLimit | None:
    policies = dict(_structured(headers.get("ratelimit-policy", "")))
    for name, params in _structured(headers.get("ratelimit", "")):
        remaining = _int(params.get("r"))
        quota = _int(policies.get(name, {}).get("q"))
        if remaining is None or not quota or remaining >= quota * NEAR_LIMIT_FRACTION:
            continue
        seconds = _int(params.get("t"))
        until = now + (timedelta(seconds=seconds) if seconds else NEAR_LIMIT_DEFAULT)
        return NearLimit(until, app_wide=name == "global-app-quota", remaining=remaining)
    if headers.get("x-ratelimit-nearlimit", "").strip().lower() == "true":
        until = _reset_at(headers) or now + NEAR_LIMIT_DEFAULT
        remaining = _int(headers.get("x-ratelimit-remaining"))
        return NearLimit(max(until, now), app_wide=False, remaining=remaining)
    return None


def _structured(value: str) -> list[tuple[str, dict[str, str]]]:
    """`"name";q=1;w=3600, "other";q=2` as [(name, {q: 1, w: 3600}), ...] (RFC 9651 lists,
    the few shapes Jira sends)."""
    found: list[tuple[str, dict[str, str]]] = []
    for member in value.split(","):
        parts = [part.strip() for part in member.split(";")]
        if not parts[0]:
            continue
        params = dict(part.partition("=")[::2] for part in parts[1:] if "=" in part)
        found.append((parts[0].strip('"'), {k.strip(): v.strip() for k, v in params.items()}))
    return found


def _retry_after(headers: Mapping[str, str], now: datetime) -> datetime | None:
    seconds = parse_retry_after(headers.get("retry-after") or headers.get("beta-retry-after"))
    return None if seconds is None else now + timedelta(seconds=seconds)


def _reset_at(headers: Mapping[str, str]) -> datetime | None:
    """`X-RateLimit-Reset`, ISO 8601 (`2026-03-02T14:00Z` or with seconds)."""
    value = (headers.get("x-ratelimit-reset") or "").strip()
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _latest(*times: datetime | None) -> datetime | None:
    known = [when for when in times if when is not None]
    return max(known) if known else None


def _next_hour(now: datetime) -> datetime:
    """The hourly quotas reset at the top of each UTC hour."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
