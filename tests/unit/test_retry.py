"""The retry policy (connector/retry.py): waits per attempt, Retry-After, quarantine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from connector.retry import (
    INBOUND_MAIL,
    OUTBOUND,
    Quarantine,
    RetryPolicy,
    poll_backoff,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _waits(policy: RetryPolicy, retry_after: float | None = None) -> list[int | str]:
    """Minutes waited after attempt 1, 2, ... until quarantine (at most 10 attempts)."""
    waits: list[int | str] = []
    for attempt in range(1, 11):
        answer = policy.next_attempt(attempt, NOW, retry_after)
        if isinstance(answer, Quarantine):
            waits.append(f"quarantined after {answer.attempts}")
            break
        waits.append(int((answer - NOW).total_seconds() // 60))
    return waits


def test_retry_inbound_mail_waits_then_quarantines_after_five_attempts() -> None:
    assert _waits(INBOUND_MAIL) == [1, 5, 15, 60, "quarantined after 5"]


def test_retry_outbound_waits_then_quarantines_after_six_attempts() -> None:
    assert _waits(OUTBOUND) == [1, 5, 15, 60, 180, "quarantined after 6"]


def test_retry_longer_retry_after_wins_shorter_does_not() -> None:
    assert INBOUND_MAIL.next_attempt(1, NOW, retry_after=600) == NOW + timedelta(minutes=10)
    assert INBOUND_MAIL.next_attempt(3, NOW, retry_after=30) == NOW + timedelta(minutes=15)
    assert INBOUND_MAIL.next_attempt(1, NOW, retry_after=-5) == NOW + timedelta(minutes=1)


def test_retry_after_does_not_postpone_quarantine() -> None:
    assert OUTBOUND.next_attempt(6, NOW, retry_after=60) == Quarantine(6)


def test_retry_quarantine_reason_names_the_attempts() -> None:
    assert Quarantine(5).reason("Jira: 503") == "Jira: 503 (gave up after 5 attempts)"


def test_retry_last_delay_repeats_and_attempt_zero_counts_as_first() -> None:
    policy = RetryPolicy((timedelta(minutes=2), timedelta(minutes=7)))
    assert policy.delay(0) == timedelta(minutes=2)
    assert policy.delay(2) == policy.delay(50) == timedelta(minutes=7)
    assert policy.next_attempt(1000, NOW) == NOW + timedelta(minutes=7)  # never gives up


@pytest.mark.parametrize(
    ("interval", "waits"),
    [
        (1, [2, 4, 8, 16, 32, 60, 60]),
        (5, [10, 20, 40, 60, 60, 60, 60]),
        (25, [50, 60, 60, 60, 60, 60, 60]),
        (60, [60, 60, 60, 60, 60, 60, 60]),
    ],
)
def test_retry_poll_backoff_doubles_from_twice_the_interval_up_to_an_hour(
    interval: int, waits: list[int]
) -> None:
    policy = poll_backoff(timedelta(minutes=interval))
    assert [policy.delay(failures) // timedelta(minutes=1) for failures in range(1, 8)] == waits
    assert policy.attempts is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: RetryPolicy(()),
        lambda: RetryPolicy((timedelta(minutes=-1),)),
        lambda: RetryPolicy((timedelta(minutes=1),), attempts=0),
        lambda: RetryPolicy.doubling(timedelta(0), timedelta(minutes=5)),
    ],
)
def test_retry_policy_without_sense_is_refused(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()
