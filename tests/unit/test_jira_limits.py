"""Jira Cloud's rate-limit answers, with the header names and values Atlassian documents
(developer.atlassian.com/cloud/jira/platform/rate-limiting/), read into what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.jira.limiter import IssueWriteSpacing
from connector.jira.limits import (
    NearLimit,
    PauseApp,
    PauseSite,
    SlowEndpoint,
    SpaceIssueWrites,
    Verdict,
    endpoint_of,
    interpret,
    issue_of,
)

NOW = datetime(2026, 3, 2, 13, 41, 20, tzinfo=UTC)
SITE = "https://acme.atlassian.net"


def read(
    status: int, headers: dict[str, str], method: str = "GET", path: str = "/rest/api/3/myself"
) -> Verdict | None:
    return interpret(status, headers, method=method, url=SITE + path, now=NOW)


def test_global_quota_pauses_the_app_until_the_reset_it_names() -> None:
    verdict = read(
        429,
        {
            "RateLimit-Reason": "jira-quota-global-based",
            "Retry-After": "1120",
            "X-RateLimit-Reset": "2026-03-02T14:00Z",
            "RateLimit-Policy": '"global-app-quota";q=65000;w=3600',
        },
    )
    assert verdict == PauseApp(datetime(2026, 3, 2, 14, 0, tzinfo=UTC), "jira-quota-global-based")


def test_a_quota_pause_lasts_until_the_later_of_retry_after_and_the_reset() -> None:
    verdict = read(
        429,
        {
            "RateLimit-Reason": "jira-quota-tenant-based",
            "Retry-After": "1800",
            "X-RateLimit-Reset": "2026-03-02T14:00:00Z",
        },
    )
    assert verdict == PauseSite(NOW + timedelta(seconds=1800), "jira-quota-tenant-based")


def test_a_quota_without_a_time_waits_for_the_top_of_the_hour() -> None:
    verdict = read(429, {"RateLimit-Reason": "jira-quota-global-based"})
    assert isinstance(verdict, PauseApp)
    assert verdict.until == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def test_burst_slows_only_that_endpoint_and_method() -> None:
    verdict = read(
        429,
        {"RateLimit-Reason": "jira-burst-based", "Retry-After": "2"},
        method="GET",
        path="/rest/api/3/issue/SUP-12",
    )
    assert verdict == SlowEndpoint(
        "GET /rest/api/3/issue/{}", NOW + timedelta(seconds=2), "jira-burst-based"
    )


def test_per_issue_write_limit_spaces_writes_to_that_issue() -> None:
    verdict = read(
        429,
        {"RateLimit-Reason": "jira-per-issue-on-write", "Retry-After": "1"},
        method="POST",
        path="/rest/api/3/issue/SUP-12/comment",
    )
    assert verdict == SpaceIssueWrites(
        "SUP-12", NOW + timedelta(seconds=1), "jira-per-issue-on-write"
    )


def test_per_issue_limit_on_a_path_without_an_issue_slows_the_endpoint() -> None:
    verdict = read(
        429, {"RateLimit-Reason": "jira-per-issue-on-write"}, "POST", "/rest/api/3/issue"
    )
    assert verdict == SlowEndpoint(
        "POST /rest/api/3/issue", NOW + timedelta(seconds=2), "jira-per-issue-on-write"
    )


def test_an_unknown_reason_falls_back_to_the_policy_named() -> None:
    verdict = read(
        429,
        {
            "RateLimit-Reason": "quota-exceeded",
            "Retry-After": "60",
            "RateLimit-Policy": '"tenant-app-quota";q=100100;w=3600',
        },
    )
    assert verdict == PauseSite(NOW + timedelta(seconds=60), "jira-quota-tenant-based")


def test_a_bare_429_pauses_the_site_for_its_retry_after() -> None:
    verdict = read(429, {"Retry-After": "5"})
    assert verdict == PauseSite(NOW + timedelta(seconds=5), "unknown")


def test_beta_headers_are_read_until_a_limit_is_enforced() -> None:
    verdict = read(
        429, {"Beta-RateLimit-Reason": "jira-quota-global-based", "Beta-Retry-After": "30"}
    )
    assert verdict == PauseApp(NOW + timedelta(seconds=30), "jira-quota-global-based")


def test_near_limit_header_asks_low_priority_work_to_wait() -> None:
    verdict = read(
        200,
        {
            "X-RateLimit-NearLimit": "true",
            "X-RateLimit-Limit": "65000",
            "X-RateLimit-Remaining": "9000",
        },
    )
    assert verdict == NearLimit(NOW + timedelta(seconds=60), app_wide=False, remaining=9000)


def test_low_remaining_in_the_structured_header_is_near_the_limit() -> None:
    verdict = read(
        200,
        {
            "RateLimit-Policy": '"global-app-quota";q=65000;w=3600',
            "RateLimit": '"global-app-quota";r=1200;t=1120',
        },
    )
    assert verdict == NearLimit(NOW + timedelta(seconds=1120), app_wide=True, remaining=1200)


def test_plenty_left_or_other_errors_ask_nothing() -> None:
    plenty = {
        "RateLimit-Policy": '"global-app-quota";q=65000;w=3600',
        "RateLimit": '"global-app-quota";r=50000;t=1120',
        "X-RateLimit-NearLimit": "false",
    }
    assert read(200, plenty) is None
    assert read(200, {}) is None
    assert read(503, {"Retry-After": "5"}) is None
    assert read(404, {"X-RateLimit-NearLimit": "true"}) is None


def test_endpoints_and_issues_from_paths() -> None:
    assert endpoint_of("put", SITE + "/rest/api/3/issue/10042/properties/x") == (
        "PUT /rest/api/3/issue/{}/properties/x"
    )
    assert issue_of(SITE + "/rest/servicedeskapi/request/SUP-3/participant") == "SUP-3"
    assert issue_of(SITE + "/rest/api/3/issue") is None
    assert issue_of(SITE + "/rest/api/3/search/jql") is None


def test_writes_to_one_issue_are_spaced_within_both_windows() -> None:
    spacing = IssueWriteSpacing(((3, 2.0), (5, 30.0)))
    waits = [spacing.reserve("SUP-1", 0.0) for _ in range(6)]
    assert waits == [0.0, 0.0, 0.0, 2.0, 2.0, 30.0]
    assert spacing.reserve("SUP-2", 0.0) == 0.0  # another issue has its own count
    assert spacing.reserve("SUP-1", 40.0) == 0.0
