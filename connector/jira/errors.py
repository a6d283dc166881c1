"""Jira's refusals and failures as exceptions, and how an HTTP answer becomes one.

`JiraError` carries Jira's own messages (safe to show an admin); its subclasses say what a
caller may do next (`retryable`, `retry_after`). `error_from_response` reads a 4xx/5xx answer
of any Jira REST API (platform, Service Management, Data Center) into the right subclass.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from connector.jira.limits import parse_retry_after


class JiraError(Exception):
    """Jira refused or failed a request. `messages` are Jira's words, safe to show an admin."""

    retryable = False

    def __init__(
        self,
        status: int | None,
        messages: list[str],
        field_errors: Mapping[str, str] | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.messages = messages
        self.field_errors = dict(field_errors or {})
        self.retry_after = retry_after
        detail = "; ".join([*messages, *(f"{k}: {v}" for k, v in self.field_errors.items())])
        super().__init__(f"Jira answered {status}: {detail}" if status else detail)


class JiraBadRequest(JiraError):
    """400: the request was wrong (a required field, an unknown project); retrying won't help."""


class JiraAuthError(JiraError):
    """401/403: the app or user may not do this on this site."""


class JiraNotFound(JiraError):
    """404: the issue, project or property does not exist (or is not visible)."""


class JiraRateLimited(JiraError):
    retryable = True


class JiraWaiting(JiraRateLimited):
    """Not sent: Jira asked us to wait (its rate limits, `connector.jira.limiter`) and the
    wait has not ended. No attempt reached Jira."""


class JiraUnavailable(JiraError):
    """5xx, timeouts and connection failures: try again later."""

    retryable = True


def error_from_response(response: httpx.Response) -> JiraError:
    status = response.status_code
    messages, field_errors = _error_details(response)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    cls: type[JiraError]
    if status == 400:
        cls = JiraBadRequest
    elif status in (401, 403):
        cls = JiraAuthError
    elif status == 404:
        cls = JiraNotFound
    elif status == 429:
        cls = JiraRateLimited
    elif status >= 500:
        cls = JiraUnavailable
    else:
        cls = JiraError
    return cls(status, messages, field_errors, retry_after=retry_after)


def _error_details(response: httpx.Response) -> tuple[list[str], dict[str, str]]:
    """Jira's `{"errorMessages": [...], "errors": {field: message}}`, or the status text."""
    try:
        body = response.json()
    except ValueError:
        return [response.reason_phrase or f"HTTP {response.status_code}"], {}
    if not isinstance(body, dict):
        return [response.reason_phrase or f"HTTP {response.status_code}"], {}
    messages = [str(m) for m in body.get("errorMessages", []) if m]
    errors = body.get("errors")
    field_errors = {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}
    if not messages and not field_errors:
        # JSM (/rest/servicedeskapi) says `errorMessage`; other gateways say `message`.
        said = body.get("message") or body.get("errorMessage")
        messages = [str(said or response.reason_phrase or f"HTTP {response.status_code}")]
    return messages, field_errors
