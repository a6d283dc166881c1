"""Requests to Microsoft Graph for one mailbox: bearer token, throttling, errors in Graph's words.

Graph throttles with 429 (and 503 under load) and says how long to wait in `Retry-After`
("Microsoft Graph throttling guidance"); waits up to a bound are honoured here, longer ones
become a `SourceConnectionError` so the scheduler backs off instead of a worker sleeping.
Error bodies are `{"error": {"code", "message"}}` ("Microsoft Graph error responses and
resource types"); their message is what an admin sees.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from connector import logs
from connector.sources.config import SourceConfig
from connector.sources.errors import SourceAuthError, SourceConnectionError, SourceError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Immutable ids survive a move between folders ("Obtain immutable identifiers for Outlook
# resources"), so a message keeps its key in the email log whatever a person does with it.
PREFER_IMMUTABLE_ID = 'IdType="ImmutableId"'


class GraphNotFound(SourceError):
    """404: what it was that is missing depends on the request, so the caller names it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message


class GraphGone(SourceError):
    """410: the delta token expired or is invalid; the round has to start over."""


class GraphTooLarge(SourceError):
    def __init__(self, received: int) -> None:
        super().__init__(f"more than {received} bytes")
        self.received = received


class GraphClient:
    """One mailbox's URLs and an httpx client that knows how to talk to Graph."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
    ) -> None:
        if config.access_token is None:
            raise SourceAuthError("Microsoft Graph needs an OAuth access token", "")
        self._config = config
        self._token = config.access_token
        self._owned = http_client is None
        self._client = http_client or httpx.Client(
            timeout=float(config.timeout_seconds), verify=config.verify_tls
        )
        self._sleep = sleep
        self._max_retries = max_retries
        self._max_retry_wait = max_retry_wait
        self.base_url = f"https://{config.host.lower()}/v1.0"
        mailbox = config.mailbox or config.username
        # `/users/{id or userPrincipalName}` works for the signed-in user, for a shared
        # mailbox the user may open, and with application access, where `/me` does not.
        self.mailbox_url = f"{self.base_url}/users/{quote(mailbox, safe='@')}"

    def close(self) -> None:
        if self._owned:
            self._client.close()

    def url(self, *parts: str) -> str:
        return "/".join([self.mailbox_url, *(quote(part, safe="$") for part in parts)])

    def get_json(
        self,
        url: str,
        action: str,
        params: Mapping[str, str] | None = None,
        prefer: str = "",
    ) -> dict[str, Any]:
        return _json(self.request("GET", url, action, params=params, prefer=prefer), action)

    def pages(self, first: dict[str, Any], action: str = "list") -> Iterator[dict[str, Any]]:
        """`first` and the pages its `@odata.nextLink`s lead to (OData paging)."""
        page: dict[str, Any] | None = first
        followed: set[str] = set()
        while page is not None:
            yield page
            link = page.get("@odata.nextLink")
            if not isinstance(link, str):
                return
            if link in followed:  # a server that loops must not hold a worker forever
                raise SourceError(f"{action}: Microsoft Graph repeated a next link")
            followed.add(link)
            page = self.get_json(link, action)

    def request(
        self,
        method: str,
        url: str,
        action: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        prefer: str = "",
    ) -> httpx.Response:
        return self._send(method, url, action, params, body, prefer, stream=False)

    def read_limited(self, url: str, action: str, limit: int) -> bytes:
        """The body of `url`, abandoned as soon as it grows past `limit` bytes."""
        response = self._send("GET", url, action, None, None, "", stream=True)
        chunks: list[bytes] = []
        received = 0
        try:
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > limit:
                    raise GraphTooLarge(received)
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise SourceConnectionError(f"{action}: the download broke off: {exc}") from exc
        finally:
            response.close()
        return b"".join(chunks)

    def _send(
        self,
        method: str,
        url: str,
        action: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        prefer: str,
        *,
        stream: bool,
    ) -> httpx.Response:
        self._check_url(url)
        attempt = 0
        while True:
            request = self._client.build_request(
                method, url, params=params, json=body, headers=self._headers(prefer)
            )
            try:
                response = self._client.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                raise SourceConnectionError(
                    f"{action}: Microsoft Graph did not answer within "
                    f"{self._config.timeout_seconds} s"
                ) from exc
            except httpx.TransportError as exc:
                raise SourceConnectionError(
                    f"{action}: cannot reach Microsoft Graph: {exc}"
                ) from exc
            if response.is_success:
                return response
            if stream:
                response.read()
            wait = _retry_after(response, attempt)
            retry = response.status_code in RETRY_STATUSES and attempt < self._max_retries
            if not retry or wait > self._max_retry_wait:
                raise self._error(response, action, wait)
            logs.event(
                log,
                "source.throttled",
                logging.WARNING,
                source=self._config.label,
                status=response.status_code,
                wait=wait,
                attempt=attempt + 1,
            )
            response.close()
            self._sleep(wait)
            attempt += 1

    def _headers(self, prefer: str) -> dict[str, str]:
        try:
            token = self._token()
        except SourceError:
            raise
        except Exception as exc:  # whatever the OAuth layer raises, the admin must see it
            raise SourceAuthError("could not get an OAuth access token", str(exc)) from exc
        preferences = ", ".join(p for p in (prefer, PREFER_IMMUTABLE_ID) if p)
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Prefer": preferences,
        }

    def _check_url(self, url: str) -> None:
        # Links come back from Graph and are stored in cursors; the bearer token must never
        # follow one that points elsewhere.
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            parsed = None
        if (
            parsed is None
            or not url.startswith(self.base_url + "/")
            or (parsed.scheme, parsed.host, parsed.port)
            != ("https", self._config.host.lower(), None)
        ):
            raise SourceError(f"refusing a link outside {self.base_url}: {url[:80]!r}")

    def _error(self, response: httpx.Response, action: str, wait: float) -> SourceError:
        status = response.status_code
        code, message = graph_error(response)
        words = f"{code}: {message}" if code and message else code or message
        if status in (401, 403):
            return SourceAuthError(f"Microsoft Graph refused to {action}", words)
        if status == 404:
            return GraphNotFound(code, message)
        if status == 410 or "syncstate" in code.lower():  # e.g. syncStateNotFound
            return GraphGone(f"{action}: {words or 'the delta token is no longer valid'}")
        if status in RETRY_STATUSES:
            return SourceConnectionError(
                f"{action}: Microsoft Graph is throttling ({status}); it asks to wait "
                f"{wait:.0f} s: {words}"
            )
        if status >= 500:
            return SourceConnectionError(f"{action}: Microsoft Graph failed ({status}): {words}")
        return SourceError(f"{action}: Microsoft Graph answered {status}: {words}")


def graph_error(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return "", response.reason_phrase
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")
    if isinstance(error, str):  # the v1 OAuth shape some gateways still send
        return error, ""
    return "", response.reason_phrase


def _retry_after(response: httpx.Response, attempt: int) -> float:
    """Seconds to wait: `Retry-After` as seconds or HTTP date (RFC 9110 §10.2.3), else
    exponential backoff."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return max((moment - datetime.now(UTC)).total_seconds(), 0.0)
    return float(2**attempt)


def _json(response: httpx.Response, action: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise SourceError(f"{action}: Microsoft Graph answered with something not JSON") from exc
    if not isinstance(data, dict):
        raise SourceError(f"{action}: Microsoft Graph answered with something unexpected")
    return data
