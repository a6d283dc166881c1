"""A fake Microsoft Graph for one mailbox, mounted on respx: delta query, messages, and
subscriptions with their validation handshake. Shapes as Microsoft documents them ("message:
delta", "Create subscription", "Receive change notifications through webhooks", "Reduce
missing subscriptions and change notifications").

Messages live in folders: the inbox, the well-known Deleted Items (where Graph's DELETE puts
a message), and top-level folders the app creates; a message is moved with `/move` and keeps
its id (the app asks for immutable ids). `changes_to` says what was asked of one message.

Delta semantics: a delta link carries the number of messages already listed, so each round
lists only what arrived after the previous one (as Graph's state tokens do). Creating a
subscription validates both URLs first, as Graph does: a POST with `?validationToken=` that
must be answered 200, `text/plain`, with the token; the public URLs the app names are sent to
`app_url` (the app on loopback) instead.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import respx

HOST = "https://graph.microsoft.com/v1.0"
MAILBOX = "support@contoso.com"
INBOX_ID = "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAAuAAAAAAAiQ8W967B7TKBjgx9rV=="
DELETED_ID = "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAAuAAAAAAAiQ8W967B7TKBjgx9rW=="
WELL_KNOWN = {"inbox": INBOX_ID, "deleteditems": DELETED_ID}
MAX_LIFETIME = timedelta(minutes=4230)


@dataclass
class FakeMessage:
    id: str
    mime: bytes
    received: datetime
    internet_message_id: str
    read: bool = False
    folder: str = INBOX_ID  # the id of the folder it is in


@dataclass
class FakeSubscription:
    id: str
    body: dict[str, Any]
    expires_at: datetime


@dataclass
class FakeGraph:
    """`public_url`: the BASE_URL the app gives Graph; `app_url`: where that app listens."""

    public_url: str
    app_url: str
    messages: list[FakeMessage] = field(default_factory=list)
    subscriptions: dict[str, FakeSubscription] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path), in order
    folders: dict[str, str] = field(default_factory=dict)  # top-level folders: name -> id
    validated: list[str] = field(default_factory=list)  # URLs that passed validation
    # Graph's idea of now: a test that moves the worker's clock moves this one with it.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    refuse_renewal: bool = False  # answer a PATCH 403, as when access was taken away
    # Answer a DELETE with this status, or raise this (e.g. a timeout), instead of ending it.
    fail_end: int | Exception | None = None

    def mount(self, router: respx.MockRouter) -> None:
        router.route(host="graph.microsoft.com").mock(side_effect=self._answer)

    def deliver(self, mime: bytes, internet_message_id: str) -> FakeMessage:
        message = FakeMessage(
            id=f"AAMkAG{uuid.uuid4().hex}AAA=",
            mime=mime,
            received=datetime.now(UTC),
            internet_message_id=internet_message_id,
        )
        self.messages.append(message)
        return message

    def changes_to(self, message: FakeMessage) -> list[str]:
        """What was asked of the message, in order: `PATCH` (isRead), `move`, `DELETE`."""
        path = f"/users/{MAILBOX}/messages/{message.id}"
        asked = []
        for method, called in self.calls:
            if (method, called) in (("PATCH", path), ("DELETE", path)):
                asked.append(method)
            elif (method, called) == ("POST", f"{path}/move"):
                asked.append("move")
        return asked

    def only_subscription(self) -> FakeSubscription:
        assert len(self.subscriptions) == 1, self.subscriptions
        return next(iter(self.subscriptions.values()))

    def notification(
        self, subscription: FakeSubscription, message: FakeMessage, client_state: str | None = None
    ) -> dict[str, Any]:
        """A change notification for a new message, as Graph POSTs it (basic: ids only)."""
        state = subscription.body["clientState"] if client_state is None else client_state
        resource = f"Users/{MAILBOX}/Messages/{message.id}"
        return {
            "value": [
                {
                    "id": "lsgTZMr9KwAAA",
                    "subscriptionId": subscription.id,
                    "subscriptionExpirationDateTime": _odata(subscription.expires_at),
                    "clientState": state,
                    "changeType": "created",
                    "resource": resource,
                    "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
                    "resourceData": {
                        "@odata.type": "#Microsoft.Graph.Message",
                        "@odata.id": resource,
                        "id": message.id,
                    },
                }
            ]
        }

    def lifecycle(self, subscription: FakeSubscription, event: str) -> dict[str, Any]:
        return {
            "value": [
                {
                    "subscriptionId": subscription.id,
                    "subscriptionExpirationDateTime": _odata(subscription.expires_at),
                    "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
                    "clientState": subscription.body["clientState"],
                    "lifecycleEvent": event,
                }
            ]
        }

    def remove(self, subscription: FakeSubscription) -> None:
        """Graph removes a subscription on its own (and then says so: subscriptionRemoved)."""
        del self.subscriptions[subscription.id]

    # -- answering ------------------------------------------------------------------------------

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = unquote(request.url.path).removeprefix("/v1.0")
        self.calls.append((request.method, path))
        if path.startswith("/subscriptions"):
            return self._subscriptions(request, path.removeprefix("/subscriptions").strip("/"))
        prefix = f"/users/{MAILBOX}"
        if not path.startswith(prefix):
            return _error(404, "ErrorInvalidUser", "no such mailbox")
        path = path.removeprefix(prefix)
        known = WELL_KNOWN.get(path.removeprefix("/mailFolders/"))
        if known is not None:
            return httpx.Response(200, json={"id": known})
        if path == "/mailFolders":  # the top level: children of the root folder
            return self._top_folders(request)
        # Graph's own links spell the folder `mailFolders('<id>')`.
        if path in (
            f"/mailFolders/{INBOX_ID}/messages/delta",
            f"/mailFolders('{INBOX_ID}')/messages/delta",
        ):
            return self._delta(request)
        if path.startswith("/messages/"):
            return self._message(request, path.removeprefix("/messages/"))
        return _error(404, "ResourceNotFound", f"nothing at {path}")

    def _delta(self, request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        if "$deltatoken" in query:
            listed = self.messages[int(query["$deltatoken"][0]) :]
        else:  # a new round: what was received from the moment in the filter on
            since = datetime.fromisoformat(query["$filter"][0].split(" ge ")[1])
            listed = [m for m in self.messages if m.received >= since]
        listed = [m for m in listed if m.folder == INBOX_ID]
        link = f"{HOST}/users/{MAILBOX}/mailFolders('{INBOX_ID}')/messages/delta"
        return httpx.Response(
            200,
            json={
                "value": [
                    {
                        "id": m.id,
                        "receivedDateTime": _odata(m.received),
                        "isRead": m.read,
                        "internetMessageId": m.internet_message_id,
                    }
                    for m in listed
                ],
                "@odata.deltaLink": f"{link}?$deltatoken={len(self.messages)}",
            },
        )

    def _message(self, request: httpx.Request, rest: str) -> httpx.Response:
        message_id, _, tail = rest.partition("/")
        found = next((m for m in self.messages if m.id == message_id), None)
        if found is None:
            return _error(404, "ErrorItemNotFound", "The specified object was not found.")
        if tail == "$value":
            return httpx.Response(200, content=found.mime)
        if request.method == "PATCH":
            found.read = True
            return httpx.Response(200, json={"id": found.id, "isRead": True})
        if request.method == "DELETE":  # to Deleted Items, recoverable ("Delete message")
            found.folder = DELETED_ID
            return httpx.Response(204)
        if request.method == "POST" and tail == "move":
            destination = httpx.Response(200, content=request.content).json()["destinationId"]
            if destination not in (*WELL_KNOWN.values(), *self.folders.values()):
                return _error(404, "ErrorItemNotFound", "The specified folder was not found.")
            found.folder = destination
            return httpx.Response(201, json={"id": found.id, "parentFolderId": destination})
        size = {"id": "Integer 0xe08", "value": str(len(found.mime))}
        return httpx.Response(
            200,
            json={
                "id": found.id,
                "internetMessageId": found.internet_message_id,
                "singleValueExtendedProperties": [size],
            },
        )

    def _top_folders(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            name = httpx.Response(200, content=request.content).json()["displayName"]
            if name.casefold() in (known.casefold() for known in self.folders):
                return _error(409, "ErrorFolderExists", "A folder with that name exists.")
            self.folders[name] = f"AAMkFolder{uuid.uuid4().hex}AAA="
            return httpx.Response(201, json={"id": self.folders[name], "displayName": name})
        value = [
            {"id": folder_id, "displayName": name, "childFolderCount": 0}
            for name, folder_id in self.folders.items()
        ]
        return httpx.Response(200, json={"value": value})

    def _subscriptions(self, request: httpx.Request, subscription_id: str) -> httpx.Response:
        now = self.clock()
        if request.method == "POST" and not subscription_id:
            body = httpx.Response(200, content=request.content).json()
            for url in (body["notificationUrl"], body["lifecycleNotificationUrl"]):
                if not self._validate(url):
                    return _error(
                        400,
                        "ValidationError",
                        "Subscription validation request failed. Notification endpoint "
                        "must respond with 200 OK to validation request.",
                    )
            subscription = FakeSubscription(
                str(uuid.uuid4()), body, self._expiry(body["expirationDateTime"], now)
            )
            self.subscriptions[subscription.id] = subscription
            return httpx.Response(201, json=self._resource(subscription))
        found = self.subscriptions.get(subscription_id)
        if found is None:
            return _error(404, "ResourceNotFound", "The object was not found.")
        if request.method == "PATCH":
            if self.refuse_renewal:
                return _error(403, "ExtensionError", "Operation: Update; Exception: [Forbidden]")
            asked = httpx.Response(200, content=request.content).json()["expirationDateTime"]
            found.expires_at = self._expiry(asked, now)
            return httpx.Response(200, json=self._resource(found))
        if request.method == "DELETE":
            if isinstance(self.fail_end, Exception):
                raise self.fail_end
            if self.fail_end is not None:
                return _error(self.fail_end, "Failed", "the subscription could not be deleted")
            del self.subscriptions[subscription_id]
            return httpx.Response(204)
        return _error(405, "MethodNotAllowed", request.method)

    def _validate(self, url: str) -> bool:
        token = f"Validation: Testing client application reachability {secrets.token_hex(8)}"
        local = self.app_url + url.removeprefix(self.public_url)
        answer = httpx.post(local, params={"validationToken": token}, timeout=10)
        ok = (
            answer.status_code == 200
            and answer.headers.get("content-type", "").startswith("text/plain")
            and answer.text == token
        )
        if ok:
            self.validated.append(url)
        return ok

    @staticmethod
    def _expiry(asked: str, now: datetime) -> datetime:
        moment = datetime.fromisoformat(asked.replace("Z", "+00:00"))
        if moment > now + MAX_LIFETIME + timedelta(minutes=1):
            raise AssertionError(f"asked for {moment}, more than Graph allows for messages")
        return moment

    @staticmethod
    def _resource(subscription: FakeSubscription) -> dict[str, Any]:
        body = subscription.body
        return {
            "@odata.context": f"{HOST}/$metadata#subscriptions/$entity",
            "id": subscription.id,
            "resource": body["resource"],
            "changeType": body["changeType"],
            "notificationUrl": body["notificationUrl"],
            "lifecycleNotificationUrl": body["lifecycleNotificationUrl"],
            "expirationDateTime": _odata(subscription.expires_at, fraction=True),
            "clientState": None,  # Graph does not hand the secret back
        }


@contextlib.contextmanager
def graph_on_respx(public_url: str, app_url: str) -> Iterator[FakeGraph]:
    """The fake answers for Graph while the block runs; loopback (the app on `app_url`, the
    fake Jira) is passed through."""
    fake = FakeGraph(public_url=public_url, app_url=app_url)
    with respx.mock(assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()
        fake.mount(router)
        yield fake


def _odata(moment: datetime, *, fraction: bool = False) -> str:
    if fraction:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})
