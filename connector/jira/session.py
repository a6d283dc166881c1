"""An `httpx.Client` for Jira that retries 429 and 503 honouring `Retry-After`, with a cap.

Jira Cloud rate limits answer 429 with `Retry-After` in seconds
(developer.atlassian.com/cloud/jira/platform/rate-limiting/); 503 may carry it too. The wait is
capped so one tenant's throttling cannot hold a worker for minutes: past the cap or the attempt
limit the last response is returned and the client raises a retryable error, so the pipeline
retries the message later instead of blocking the mailbox.
"""

from __future__ import annotations

import functools
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from connector import logs
from connector.jira.limiter import SiteLimiter
from connector.jira.limits import Priority
from connector.jira.limits import parse_retry_after as parse_retry_after  # re-exported

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 503})
# Request extensions `JiraClient` sets: which site a request is for, and who is asking.
SITE_EXTENSION = "connector.jira_site"
PRIORITY_EXTENSION = "connector.jira_priority"


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
        limiter: SiteLimiter | None = None,
    ) -> None:
        super().__init__(
            follow_redirects=True, headers={"Accept": "application/json"}, verify=_tls_context()
        )
        self.max_attempts = max_attempts
        self.max_wait_seconds = max_wait_seconds
        self.base_backoff_seconds = base_backoff_seconds
        self._sleep = sleep
        self.limiter = limiter

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        # Each attempt runs the auth flow again, so a retry carries a young Connect JWT; the
        # body is bytes (JSON or multipart of bytes), so it is sent whole again.
        attempt = 1
        while True:
            response = self._send_within_limits(request, **kwargs)
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

    def _send_within_limits(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        """Sent once no pause forbids it and a slot of the site is free (`SiteLimiter`);
        what Jira answers about its limits is recorded for every worker."""
        if self.limiter is None:
            return super().send(request, **kwargs)
        site = str(request.extensions.get(SITE_EXTENSION) or _origin(request.url))
        priority = request.extensions.get(PRIORITY_EXTENSION, Priority.CUSTOMER)
        method, url = request.method, str(request.url)
        with self.limiter.admit(site, method, url, priority, max_wait=self.max_wait_seconds):
            response = super().send(request, **kwargs)
            # Recorded before the slot is given back: with one slot per site, no request can
            # reach the site between Jira's 429 and the pause every worker will see.
            self.limiter.observe(site, method, url, response.status_code, response.headers)
        return response

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


class SiteSessions:
    """One `RetryingSession` per Jira site (its origin) for the life of the process, shared by
    every client, poll and thread that calls it: connections and TLS sessions are kept
    between polls instead of being made again for each. Credentials are never the session's:
    each `JiraClient` sends its own auth with every request, so clients of one site with
    different credentials (the app, a workaround user, a user's token) can share it."""

    def __init__(self, limiter: SiteLimiter | None = None) -> None:
        self._limiter = limiter
        self._sessions: dict[str, RetryingSession] = {}
        self._lock = threading.Lock()

    def for_site(self, base_url: str) -> RetryingSession:
        key = _origin(httpx.URL(base_url))
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = self._sessions[key] = RetryingSession(limiter=self._limiter)
            return session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once: loading the CA bundle takes tens of
    milliseconds, and the admin API makes a session for each request that asks Jira."""
    return httpx.create_ssl_context()


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode('ascii')}"
