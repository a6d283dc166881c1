"""The HTTP side of `JiraClient`: a site's REST URLs, one request with its auth and limits, paging.

`JiraTransport` turns a REST path into a request on the site's `httpx` session (retries from
`RetryingSession`, Jira's rate limits from `SiteLimiter`) and Jira's answer into JSON or a
`connector.jira.errors.JiraError`; `connector.jira.client` builds Jira's operations on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from connector.jira.auth import CredentialsPending, JiraSite
from connector.jira.dialect import JiraDialect
from connector.jira.errors import JiraError, JiraUnavailable, JiraWaiting, error_from_response
from connector.jira.limiter import JiraPaused, SiteLimiter
from connector.jira.limits import Priority
from connector.jira.session import PRIORITY_EXTENSION, SITE_EXTENSION, RetryingSession

DEFAULT_TIMEOUT_SECONDS = 30
# Credentials handed over by someone else (a Forge system token) come back within the hour.
PENDING_RETRY_SECONDS = 15 * 60


class JiraTransport:
    """One Jira site's REST API over HTTP, for `JiraClient` to build its operations on."""

    def __init__(
        self,
        site: JiraSite,
        *,
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        session: httpx.Client | None = None,
        limiter: SiteLimiter | None = None,
        priority: Priority = Priority.CUSTOMER,
    ) -> None:
        """`limiter` keeps Jira's rate limits shared with every worker (`connector.runtime`
        builds it) for the session made here; a given `session` (one shared by the site's
        clients, `SiteSessions`) brings its own. The site's auth goes with each request,
        never onto the session. `priority` says whether this client's calls yield to others
        when the budget runs low."""
        self.site = site
        self._http = session or RetryingSession(limiter=limiter)
        self._priority = priority
        self._timeout = timeout_seconds

    @property
    def dialect(self) -> JiraDialect:
        return self.site.dialect

    def _url(self, path: str) -> str:
        """A platform REST path (`issue/SUP-1`) as a URL of this site."""
        return self._site_url(f"{self.dialect.api_path}/{path}")

    def _site_url(self, path: str) -> str:
        """Any other REST path of the site (`rest/servicedeskapi/...`) as a URL."""
        return f"{self.site.base_url.rstrip('/')}/{path}"

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        found = self._request("GET", self._url(path), params=params)
        if not isinstance(found, dict):
            raise JiraError(None, [f"unexpected answer to GET {path}"])
        return found

    def _get_list(self, path: str) -> list[dict[str, Any]]:
        return dict_items(self._request("GET", self._url(path)))

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        found = self._request("POST", self._url(path), json=dict(body))
        if not isinstance(found, dict):
            raise JiraError(None, [f"unexpected answer to POST {path}"])
        return found

    def _paged(
        self, path: str, items_key: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        start_at = 0
        while True:
            page = self._get(path, params={**(params or {}), "startAt": start_at, "maxResults": 50})
            items = [item for item in page.get(items_key, []) if isinstance(item, dict)]
            yield from items
            start_at += len(items)
            total = page.get("total")
            if not items or (isinstance(total, int) and start_at >= total):
                return

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """Jira's JSON answer (None for an empty one, the text for one that is not JSON), or
        a `JiraError` for a 4xx/5xx answer or a site that cannot be reached."""
        try:
            response = self._http.request(
                method,
                url,
                params=dict(params) if params else None,
                json=json,
                headers=dict(headers) if headers else None,
                files=dict(files) if files else None,
                auth=self.site.auth,
                timeout=self._timeout,
                extensions={SITE_EXTENSION: self.site.base_url, PRIORITY_EXTENSION: self._priority},
            )
        except JiraPaused as exc:
            wait = max(0.0, (exc.until - datetime.now(UTC)).total_seconds())
            raise JiraWaiting(None, [str(exc)], retry_after=wait) from exc
        except httpx.TransportError as exc:
            raise JiraUnavailable(
                None, [f"Jira could not be reached: {type(exc).__name__}"]
            ) from exc
        except CredentialsPending as exc:
            raise JiraUnavailable(None, [str(exc)], retry_after=PENDING_RETRY_SECONDS) from None
        if response.status_code >= 400:
            raise error_from_response(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text


def segment(value: str) -> str:
    """One URL path segment: an issue key or property key must not change the path."""
    return quote(value, safe="")


def dict_items(found: Any) -> list[dict[str, Any]]:
    if not isinstance(found, list):
        return []
    return [item for item in found if isinstance(item, dict)]
