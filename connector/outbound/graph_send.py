"""Sending through Microsoft Graph `sendMail`, with the whole MIME message.

"Send Outlook messages in MIME format" (Microsoft Learn): POST the base64 MIME text with
`Content-Type: text/plain` to `/users/{id}/sendMail`; Graph answers 202 and files a copy in
Sent Items. Our headers (Message-ID, References, Auto-Submitted, the loop header) travel in
the MIME, which the JSON form could not carry. 429/503/504 are temporary, with Retry-After.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from email.message import EmailMessage
from urllib.parse import quote

import httpx

from connector.outbound.delivery import SendError, Steps

GRAPH_URL = "https://graph.microsoft.com/v1.0"
_RETRY = frozenset({429, 500, 502, 503, 504})


class GraphSender:
    def __init__(
        self,
        mailbox: str,
        access_token: Callable[[], str],
        *,
        timeout_seconds: int = 30,
        base_url: str = GRAPH_URL,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._mailbox = mailbox
        self._token = access_token
        self._timeout = timeout_seconds
        self._base_url = base_url.rstrip("/")
        self._http = http_client

    def send(self, message: EmailMessage, steps: Steps | None = None) -> None:
        steps = steps or Steps()
        with steps.step("authenticate", f"OAuth token for {self._mailbox}"):
            try:
                token = self._token()
            except Exception as exc:  # the provider's words, from the token renewal
                raise SendError(str(exc), retryable=False, step="authenticate") from None
        url = f"{self._base_url}/users/{quote(self._mailbox, safe='@')}/sendMail"
        body = base64.b64encode(message.as_bytes())
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
        with steps.step("send", "Graph sendMail"):
            try:
                if self._http is not None:
                    response = self._http.post(url, content=body, headers=headers)
                else:
                    with httpx.Client(timeout=self._timeout) as client:
                        response = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise SendError(
                    f"Graph could not be reached: {type(exc).__name__}",
                    retryable=True,
                    step="send",
                ) from None
            if response.status_code not in (200, 202):
                raise SendError(
                    f"Graph answered {response.status_code}: {_graph_message(response)}",
                    retryable=response.status_code in _RETRY,
                    step="send",
                    retry_after=_retry_after(response),
                )


def _graph_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return response.reason_phrase or "no details"
    code, message = error.get("code", ""), error.get("message", "")
    return f"{code}: {message}" if code and message else str(code or message or "no details")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None
