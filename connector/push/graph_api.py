"""Microsoft Graph subscriptions, as the worker asks for them, and where Graph may reach us.

Facts (Microsoft Graph docs, "Receive change notifications through webhooks", "Reduce missing
subscriptions and change notifications", read in the docs' source repository):
- `POST /subscriptions` with `changeType`, `notificationUrl`, `lifecycleNotificationUrl`,
  `resource`, `expirationDateTime` and `clientState`; Graph validates *both* URLs first by
  POSTing `?validationToken=...`, answered with 200 and the token as `text/plain` within 10 s.
  `lifecycleNotificationUrl` can only be set when the subscription is created.
- Renewal: `PATCH /subscriptions/{id}` with a new `expirationDateTime`; it reauthorizes too,
  so it is also the answer to `reauthorizationRequired`. `DELETE /subscriptions/{id}` ends one.
- Notifications are answered with a 2xx within 3 s (else retried for up to 4 hours); a
  notification whose `clientState` does not match is not to be trusted.
- The longest lifetime of a subscription to Outlook messages: 4,230 minutes (just under three
  days) in the docs read here; newer pages are said to allow more for basic notifications
  (not confirmed here), so 4,230 is what is asked for, and the subscription is renewed at
  half its remaining life, on the expiry Graph answered (it may grant less than asked).
- Not confirmed here: that `notificationUrl` must be https (the subscription resource page
  says so as far as we know); an http BASE_URL is treated as unreachable either way.
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

import httpx

from connector.settings import is_loopback_url
from connector.sources.errors import SourceError
from connector.sources.graph_http import GraphClient, GraphNotFound

NOTIFICATIONS_PATH = "/graph/notifications"
LIFECYCLE_PATH = "/graph/lifecycle"
MAX_LIFETIME = timedelta(minutes=4230)
# Names that never resolve on the internet (RFC 6761, RFC 6762, and the common internal one).
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def unreachable(base_url: str) -> str:
    """Why Microsoft cannot send notifications to BASE_URL, in words; empty when it can."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    cannot = f"BASE_URL {base_url} is not reachable from Microsoft"
    if is_loopback_url(base_url):
        return f"{cannot} (a loopback address), so Graph cannot send notifications"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and not address.is_global:
        return f"{cannot} (a private address), so Graph cannot send notifications"
    if address is None and ("." not in host or host.endswith(_LOCAL_SUFFIXES)):
        return f"{cannot} (a local host name), so Graph cannot send notifications"
    if parts.scheme != "https":
        return f"BASE_URL {base_url} is not https, which Graph requires of notification URLs"
    return ""


def notification_urls(base_url: str) -> tuple[str, str]:
    base = base_url.rstrip("/")
    return base + NOTIFICATIONS_PATH, base + LIFECYCLE_PATH


def odata_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def renew_at(now: datetime, expires_at: datetime) -> datetime:
    """Half-life: half the time from now to the expiry Graph granted."""
    return now + max(expires_at - now, timedelta(0)) / 2


@dataclass(frozen=True)
class Granted:
    subscription_id: str
    expires_at: datetime


class Subscriptions:
    """The subscription calls for one mailbox (its token, its throttling rules)."""

    def __init__(self, graph: GraphClient) -> None:
        self._graph = graph

    def resource(self, folder_id: str) -> str:
        """`users/{mailbox}/mailFolders/{id}/messages`: the folder the source reads."""
        # A path in a JSON string, not a URL: the ids as Graph gave them, not percent-encoded.
        url = self._graph.url("mailFolders", folder_id, "messages")
        return unquote(url.removeprefix(self._graph.base_url + "/"))

    def create(
        self, *, resource: str, base_url: str, client_state: str, expires_at: datetime
    ) -> Granted:
        notification_url, lifecycle_url = notification_urls(base_url)
        body = {
            "changeType": "created",
            "notificationUrl": notification_url,
            "lifecycleNotificationUrl": lifecycle_url,
            "resource": resource,
            "expirationDateTime": odata_time(expires_at),
            "clientState": client_state,
        }
        response = self._graph.request(
            "POST", self._url(), "subscribe to change notifications", body=body
        )
        return parse_granted(_body(response), "subscribe to change notifications")

    def renew(self, subscription_id: str, expires_at: datetime) -> Granted:
        """Raises `GraphNotFound` when Graph no longer has the subscription."""
        response = self._graph.request(
            "PATCH",
            self._url(subscription_id),
            "renew the subscription",
            body={"expirationDateTime": odata_time(expires_at)},
        )
        return parse_granted(_body(response), "renew the subscription")

    def delete(self, subscription_id: str) -> None:
        with contextlib.suppress(GraphNotFound):  # already gone: what was wanted
            self._graph.request("DELETE", self._url(subscription_id), "end the subscription")

    def _url(self, subscription_id: str = "") -> str:
        base = f"{self._graph.base_url}/subscriptions"
        return f"{base}/{subscription_id}" if subscription_id else base


def _body(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None  # not JSON: `parse_granted` says what is missing


def parse_granted(data: object, action: str) -> Granted:
    if not isinstance(data, dict):
        raise SourceError(f"{action}: Microsoft Graph answered with something unexpected")
    subscription_id, expiry = data.get("id"), data.get("expirationDateTime")
    if not isinstance(subscription_id, str) or not subscription_id or len(subscription_id) > 128:
        raise SourceError(f"{action}: Microsoft Graph sent no usable subscription id")
    try:
        expires_at = datetime.fromisoformat(str(expiry).replace("Z", "+00:00"))
    except ValueError as exc:
        raise SourceError(f"{action}: Microsoft Graph sent no usable expiry") from exc
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return Granted(subscription_id, expires_at)
