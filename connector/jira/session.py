"""An `httpx.Client` for Jira that retries 429 and 503 honouring `Retry-After`, with a cap.

Jira Cloud rate limits answer 429 with `Retry-After` in seconds
(developer.atlassian.com/cloud/jira/platform/rate-limiting/); 503 may carry it too. The wait is
capped so one tenant's throttling cannot hold a worker for minutes: past the cap or the attempt
limit the last response is returned and the client raises a retryable error, so the pipeline
retries the message later instead of blocking the mailbox.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import random
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from connector import logs

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 503})


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


class RetryingSession(httpx.Client):
    """Follows redirects (credentials are withheld from other origins by `connector.jira.auth`)
    and sends `Accept: application/json`, as every Jira REST call wants."""

    def __init__(
        self,
        *,
        max_attempts: int = 4,
        max_wait_seconds: float = 30.0,
        base_backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            follow_redirects=True, headers={"Accept": "application/json"}, verify=_tls_context()
        )
        self.max_attempts = max_attempts
        self.max_wait_seconds = max_wait_seconds
        self.base_backoff_seconds = base_backoff_seconds
        self._sleep = sleep

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        # Each attempt runs the auth flow again, so a Connect JWT is fresh on every retry; the
        # body is bytes (JSON or multipart of bytes), so it is sent whole again.
        attempt = 1
        while True:
            response = super().send(request, **kwargs)
            if response.status_code not in RETRY_STATUSES or attempt >= self.max_attempts:
                return response
            wait = self._wait_for(response, attempt)
            if wait is None:
                return response
            logs.event(
                log,
                "jira.retry",
                logging.WARNING,
                status=response.status_code,
                attempt=attempt,
                wait_seconds=f"{wait:.1f}",
            )
            response.close()
            self._sleep(wait)
            attempt += 1

    def _wait_for(self, response: httpx.Response, attempt: int) -> float | None:
        advised = parse_retry_after(response.headers.get("Retry-After"))
        if advised is None:
            # Exponential backoff with jitter when Jira does not say how long.
            advised = self.base_backoff_seconds * (2 ** (attempt - 1))
            advised *= 1 + random.random() * 0.25  # noqa: S311 - jitter, not security
        if advised > self.max_wait_seconds:
            # Waiting that long here would stall the worker; let the caller reschedule.
            return None
        return advised


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once: loading the CA bundle takes tens of
    milliseconds, and the admin API makes a session for each request that asks Jira."""
    return httpx.create_ssl_context()
