"""The Microsoft Graph source against respx, with answers shaped as Microsoft documents them
("message: delta", "Get incremental changes to messages in a folder", "Microsoft Graph error
responses and resource types"): `value`, `@odata.nextLink`, `@odata.deltaLink`, error bodies
`{"error": {"code", "message", "innerError"}}`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from connector.sources import open_source
from connector.sources.base import GraphCursor, MessageRef, cursor_from_json
from connector.sources.config import SourceConfig
from connector.sources.errors import (
    FolderNotFound,
    MessageTooLarge,
    MessageVanished,
    SourceAuthError,
    SourceConfigError,
    SourceConnectionError,
    SourceError,
)
from connector.sources.graph import GraphSource
from connector.sources.oauth_config import OAuthClientConfig
from connector.sources.token_provider import TokenProvider

HOST = "https://graph.microsoft.com/v1.0"
MAILBOX = f"{HOST}/users/support@contoso.com"
TOKEN = "eyJ0eXAiOiJKV1QiLCJub25jZSI6.graph-access-token"
# Real Exchange ids are this long; the folder part below is the store's prefix plus a tail.
STORE = "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OA"
INBOX_ID = f"{STORE}AuAAAAAAAiQ8W967B7TKBjgx9rVEURAQAiIsqMbYjsT5e-T7KzowPTAAAAAAEMAAA="
ROOT_ID = f"{STORE}AuAAAAAAAiQ8W967B7TKBjgx9rVEURAQAiIsqMbYjsT5e-T7KzowPTAAAAAAEIAAA="
SINCE = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
MIME = (
    b"From: Ada <ada@example.org>\r\nTo: support@contoso.com\r\nSubject: Printer on fire\r\n"
    b"Message-ID: <CAF=1@mail.example.org>\r\n\r\nPlease help.\r\n"
)


def graph_config(**overrides: Any) -> SourceConfig:
    settings: dict[str, Any] = {
        "protocol": "graph",
        "host": "graph.microsoft.com",
        "port": 443,
        "username": "support@contoso.com",
        "access_token": lambda: TOKEN,
        "source_id": "src-graph",
    }
    return SourceConfig(**(settings | overrides))


def message_id(n: int) -> str:
    return (
        f"{STORE}BGAAAAAAAiQ8W967B7TKBjgx9rVEURBwAiIsqMbYjsT5e-T7KzowPTAAAAAAEMAAAiIsqMbYjsT5e"
        f"-T7KzowPTAAAYbuK{n}AAA="
    )


def message(n: int, received: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.message",
        "@odata.etag": 'W/"CQAAABYAAAAiIsqMbYjsT5e/T7KzowPTAAAYbuKv"',
        "id": message_id(n),
        "receivedDateTime": received,
        "isRead": False,
        "internetMessageId": f"<msg{n}@mail.example.org>",
    }


def link(kind: str, token: str) -> str:
    """A next or delta link as Graph writes them, with its own spelling of the path."""
    return (
        f"{HOST}/users('support@contoso.com')/mailFolders('{INBOX_ID}')/messages/delta"
        f"?${kind}={token}"
    )


def page(items: list[dict[str, Any]], *, next_token: str = "", delta_token: str = "") -> Any:
    body: dict[str, Any] = {
        "@odata.context": f"{HOST}/$metadata#Collection(message)",
        "value": items,
    }
    if next_token:
        body["@odata.nextLink"] = link("skiptoken", next_token)
    if delta_token:
        body["@odata.deltaLink"] = link("deltatoken", delta_token)
    return body


def graph_error(code: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2025-03-01T08:00:00",
                "request-id": "0b5c2f0e-5d4d-4a4b-9b1e-4f0c5c3e1a00",
                "client-request-id": "0b5c2f0e-5d4d-4a4b-9b1e-4f0c5c3e1a00",
            },
        }
    }


def folder(folder_id: str, name: str, children: int = 0) -> dict[str, Any]:
    return {
        "id": folder_id,
        "displayName": name,
        "parentFolderId": ROOT_ID,
        "childFolderCount": children,
        "unreadItemCount": 0,
        "totalItemCount": 0,
    }


def params(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(str(request.url)).query).items()}


def on_link(http: respx.MockRouter, kind: str, token: str) -> respx.Route:
    return http.get(url__startswith=HOST, params={f"${kind}": token})


@pytest.fixture
def http() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{MAILBOX}/mailFolders/inbox", name="inbox").respond(
            json={"@odata.context": f"{HOST}/$metadata#users('x')/mailFolders(id)/$entity"}
            | folder(INBOX_ID, "Inbox")
        )
        yield router


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def source(http: respx.MockRouter, sleeps: list[float]) -> Iterator[GraphSource]:
    graph = GraphSource(graph_config(), sleep=sleeps.append)
    graph.connect()
    yield graph
    graph.close()


def connected(config: SourceConfig) -> GraphSource:
    graph = GraphSource(config, sleep=lambda _: None)
    graph.connect()
    return graph


def graph_cursor(cursor: object) -> GraphCursor:
    assert isinstance(cursor, GraphCursor)
    return cursor


def ref(n: int) -> MessageRef:
    return MessageRef(message_id(n), 0, "INBOX")


# -- finding new mail -------------------------------------------------------------------------


def test_graph_list_new_follows_next_links_to_the_delta_link(
    http: respx.MockRouter, source: GraphSource
) -> None:
    first = http.get(f"{MAILBOX}/mailFolders/{INBOX_ID}/messages/delta").respond(
        json=page(
            [message(2, "2025-03-01T09:30:00Z"), message(1, "2025-03-01T09:00:00Z")],
            next_token="MSZZVlhJRndlZ1pxbFZyQ2FqS2lHbzB4",
        )
    )
    second = on_link(http, "skiptoken", "MSZZVlhJRndlZ1pxbFZyQ2FqS2lHbzB4").respond(
        json=page([message(3, "2025-03-01T10:00:00Z")], delta_token="LztZwWjo5IivWBhyxw5rAK")
    )
    cursor = source.baseline(SINCE)
    listing = source.list_new(cursor)
    sent = params(first.calls.last.request)
    assert sent["changeType"] == "created"
    assert sent["$filter"] == "receivedDateTime ge 2025-03-01T08:00:00Z"
    assert set(sent["$select"].split(",")) >= {"id", "internetMessageId", "receivedDateTime"}
    headers = second.calls.last.request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert 'IdType="ImmutableId"' in headers["Prefer"] and "odata.maxpagesize" in headers["Prefer"]
    assert [r.uid for r in listing.refs] == [message_id(1), message_id(2), message_id(3)]
    assert listing.refs[0].key == f"INBOX:{message_id(1)}"
    assert graph_cursor(listing.cursor).delta_link == link("deltatoken", "LztZwWjo5IivWBhyxw5rAK")
    assert not listing.has_more and not listing.rescan


def test_graph_messages_of_one_second_keep_the_order_graph_listed_them_in(
    http: respx.MockRouter, source: GraphSource
) -> None:
    # receivedDateTime is to the second; a message and the reply to it can share one. Their
    # ids say nothing of order (message 2's sorts after message 1's): the listing's order holds.
    same = "2025-03-01T09:00:00Z"
    http.get(f"{MAILBOX}/mailFolders/{INBOX_ID}/messages/delta").respond(
        json=page(
            [message(3, "2025-03-01T09:00:01Z"), message(2, same), message(1, same)],
            delta_token="LztZwWjo5IivWBhyxw5rAK",
        )
    )
    listing = source.list_new(source.baseline(SINCE))
    assert [r.uid for r in listing.refs] == [message_id(2), message_id(1), message_id(3)]


def test_graph_baseline_skips_old_mail_and_lists_a_new_message_once(
    http: respx.MockRouter, source: GraphSource
) -> None:
    start = http.get(f"{MAILBOX}/mailFolders/{INBOX_ID}/messages/delta").respond(
        json=page([], delta_token="D1")
    )
    on_link(http, "deltatoken", "D1").respond(
        json=page([message(4, "2025-03-02T11:00:00Z")], delta_token="D2")
    )
    on_link(http, "deltatoken", "D2").respond(json=page([], delta_token="D3"))
    before = datetime.now(UTC).replace(microsecond=0)
    cursor = source.baseline()
    since = datetime.fromisoformat(params(start.calls.last.request)["$filter"].split(" ge ")[1])
    assert before <= since <= datetime.now(UTC) and cursor.since == since
    assert (cursor.delta_link, cursor.pending) == (link("deltatoken", "D1"), ())
    listing = source.list_new(cursor)
    assert [r.uid for r in listing.refs] == [message_id(4)]
    assert isinstance(listing.cursor, GraphCursor) and listing.cursor.pending == (message_id(4),)
    done = listing.cursor.advanced(listing.refs[0])
    assert done.pending == () and done.delta_link == link("deltatoken", "D2")
    again = source.list_new(done)
    assert again.refs == () and graph_cursor(again.cursor).delta_link == link("deltatoken", "D3")


def test_graph_list_new_stops_at_limit_and_resumes_from_the_next_link(
    http: respx.MockRouter, source: GraphSource
) -> None:
    on_link(http, "deltatoken", "D1").respond(
        json=page(
            [message(1, "2025-03-01T09:00:00Z"), message(2, "2025-03-01T09:01:00Z")],
            next_token="S2",
        )
    )
    rest = on_link(http, "skiptoken", "S2").respond(
        json=page([message(3, "2025-03-01T09:02:00Z")], delta_token="D2")
    )
    listing = source.list_new(GraphCursor(link("deltatoken", "D1"), SINCE), limit=2)
    assert listing.has_more and not rest.called
    assert graph_cursor(listing.cursor).delta_link == link("skiptoken", "S2")
    cursor = listing.cursor
    for done in listing.refs:
        cursor = cursor.advanced(done)
    following = source.list_new(cursor, limit=2)
    assert [r.uid for r in following.refs] == [message_id(3)] and not following.has_more


def test_graph_list_new_lists_pending_messages_again_after_a_crash(
    http: respx.MockRouter, source: GraphSource
) -> None:
    on_link(http, "deltatoken", "D2").respond(
        json=page([message(5, "2025-03-01T12:00:00Z")], delta_token="D3")
    )
    stored = GraphCursor(link("deltatoken", "D2"), SINCE, (message_id(4),)).to_json()
    listing = source.list_new(cursor_from_json(stored))
    assert [r.uid for r in listing.refs] == [message_id(4), message_id(5)]


def test_graph_expired_delta_token_restarts_the_round_from_since_as_a_rescan(
    http: respx.MockRouter, source: GraphSource
) -> None:
    on_link(http, "deltatoken", "OLD").respond(
        410, json=graph_error("SyncStateNotFound", "The sync state generation was not found.")
    )
    restart = http.get(f"{MAILBOX}/mailFolders/{INBOX_ID}/messages/delta").respond(
        json=page([message(1, "2025-03-01T09:00:00Z")], delta_token="NEW")
    )
    listing = source.list_new(GraphCursor(link("deltatoken", "OLD"), SINCE))
    assert (
        params(restart.calls.last.request)["$filter"] == "receivedDateTime ge 2025-03-01T08:00:00Z"
    )
    assert listing.rescan and [r.uid for r in listing.refs] == [message_id(1)]
    assert source.fetch_message_ids(listing.refs) == {message_id(1): "<msg1@mail.example.org>"}


def test_graph_estimate_backlog_counts_with_odata_count(
    http: respx.MockRouter, source: GraphSource
) -> None:
    route = http.get(f"{MAILBOX}/mailFolders/{INBOX_ID}/messages").respond(
        json={"@odata.count": 1234, "value": [{"id": message_id(1)}]}
    )
    assert source.estimate_backlog(SINCE) == 1234
    sent = params(route.calls.last.request)
    assert sent["$count"] == "true"
    assert sent["$filter"] == "receivedDateTime ge 2025-03-01T08:00:00Z"


# -- fetching ---------------------------------------------------------------------------------


def size_answer(n: int, size: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": message_id(n), "internetMessageId": f"<msg{n}@example.org>"}
    if size is not None:
        body["singleValueExtendedProperties"] = [{"id": "Integer 0xe08", "value": str(size)}]
    return body


def test_graph_fetch_returns_the_mime_after_checking_its_size(
    http: respx.MockRouter, source: GraphSource
) -> None:
    meta = http.get(f"{MAILBOX}/messages/{message_id(1)}").respond(json=size_answer(1, 4096))
    http.get(f"{MAILBOX}/messages/{message_id(1)}/$value").respond(
        content=MIME, headers={"Content-Type": "text/plain"}
    )
    assert source.fetch(ref(1)) == MIME
    expand = params(meta.calls.last.request)["$expand"]
    assert expand == "singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')"


def test_graph_fetch_oversize_by_stored_size_is_not_downloaded(http: respx.MockRouter) -> None:
    http.get(f"{MAILBOX}/messages/{message_id(1)}").respond(json=size_answer(1, 30_000_000))
    body = http.get(f"{MAILBOX}/messages/{message_id(1)}/$value").respond(content=MIME)
    source = connected(graph_config(max_message_bytes=25_000_000))
    with pytest.raises(MessageTooLarge) as raised:
        source.fetch(ref(1))
    assert raised.value.ref.size == 30_000_000 and not body.called


def test_graph_fetch_oversize_while_streaming_is_abandoned(http: respx.MockRouter) -> None:
    http.get(f"{MAILBOX}/messages/{message_id(1)}").respond(json=size_answer(1, None))
    http.get(f"{MAILBOX}/messages/{message_id(1)}/$value").respond(content=MIME * 10)
    source = connected(graph_config(max_message_bytes=len(MIME) * 2))
    with pytest.raises(MessageTooLarge) as raised:
        source.fetch(ref(1))
    assert raised.value.ref.size > len(MIME) * 2


def test_graph_fetch_of_a_removed_message_is_vanished(
    http: respx.MockRouter, source: GraphSource
) -> None:
    http.get(f"{MAILBOX}/messages/{message_id(9)}").respond(
        404,
        json=graph_error("ErrorItemNotFound", "The specified object was not found in the store."),
    )
    with pytest.raises(MessageVanished):
        source.fetch(ref(9))


# -- after processing -------------------------------------------------------------------------


def test_graph_mark_read_patches_is_read(http: respx.MockRouter, source: GraphSource) -> None:
    route = http.patch(f"{MAILBOX}/messages/{message_id(1)}").respond(json=message(1, "x"))
    source.mark_done(ref(1), success=True)
    assert json.loads(route.calls.last.request.content) == {"isRead": True}


def test_graph_delete_sends_delete_which_moves_to_deleted_items(http: respx.MockRouter) -> None:
    route = http.delete(f"{MAILBOX}/messages/{message_id(1)}").respond(204)
    connected(graph_config(after_processing="delete")).mark_done(ref(1), success=True)
    assert route.call_count == 1


def test_graph_move_resolves_a_sub_folder_path_across_pages(http: respx.MockRouter) -> None:
    processed = f"{STORE}AuAAAAAAAiQ8W967B7TKBjgx9rVEURAQAiIsqMbYjsT5e-T7KzowPTAAAYbuKvAAA="
    children = f"{MAILBOX}/mailFolders/{INBOX_ID}/childFolders"
    listing = http.get(children).mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "value": [folder("AAMkAOther=", "Other")],
                    "@odata.nextLink": f"{children}?%24select=id%2CdisplayName&%24skip=100",
                },
            ),
            httpx.Response(200, json={"value": [folder(processed, "Processed")]}),
        ]
    )
    move = http.post(f"{MAILBOX}/messages/{message_id(1)}/move").respond(201, json=message(1, "x"))
    config = graph_config(after_processing="move", success_folder="INBOX/processed")
    connected(config).mark_done(ref(1), success=True)
    assert json.loads(move.calls.last.request.content) == {"destinationId": processed}
    assert params(listing.calls.last.request)["$skip"] == "100"


def test_graph_failure_moves_to_failure_folder_creating_it(http: respx.MockRouter) -> None:
    http.get(f"{MAILBOX}/mailFolders", params={"$top": "100"}).respond(
        json={"value": [folder(INBOX_ID, "Inbox", 1), folder("AAMkASent=", "Sent Items")]}
    )
    create = http.post(f"{MAILBOX}/mailFolders").respond(
        201, json=folder("AAMkAFailed=", "Connector failures")
    )
    move = http.post(f"{MAILBOX}/messages/{message_id(1)}/move").respond(201, json=message(1, "x"))
    config = graph_config(failure_folder="Connector failures")
    connected(config).mark_done(ref(1), success=False)
    assert json.loads(create.calls.last.request.content) == {"displayName": "Connector failures"}
    assert json.loads(move.calls.last.request.content) == {"destinationId": "AAMkAFailed="}


def test_graph_mark_done_of_a_removed_message_is_vanished(
    http: respx.MockRouter, source: GraphSource
) -> None:
    http.patch(f"{MAILBOX}/messages/{message_id(1)}").respond(
        404,
        json=graph_error("ErrorItemNotFound", "The specified object was not found in the store."),
    )
    with pytest.raises(MessageVanished):
        source.mark_done(ref(1), success=True)


# -- folders and mailboxes --------------------------------------------------------------------


def test_graph_folder_path_by_display_name_in_the_mailbox_language(http: respx.MockRouter) -> None:
    http.get(f"{MAILBOX}/mailFolders", params={"$top": "100"}).respond(
        json={"value": [folder("AAMkAPosteingang=", "Posteingang", 1)]}
    )
    http.get(f"{MAILBOX}/mailFolders/AAMkAPosteingang=/childFolders").respond(
        json={"value": [folder("AAMkASupport=", "Support")]}
    )
    delta = http.get(f"{MAILBOX}/mailFolders/AAMkASupport=/messages/delta").respond(
        json=page([], delta_token="D1")
    )
    source = connected(graph_config(folder="Posteingang/support"))
    source.baseline()
    assert delta.called


def test_graph_missing_folder_is_folder_not_found_at_connect(http: respx.MockRouter) -> None:
    http.get(f"{MAILBOX}/mailFolders", params={"$top": "100"}).respond(
        json={"value": [folder(INBOX_ID, "Inbox")]}
    )
    with pytest.raises(FolderNotFound) as raised:
        connected(graph_config(folder="Tickets"))
    assert raised.value.folder == "Tickets"


def test_graph_shared_mailbox_is_read_under_its_own_address(http: respx.MockRouter) -> None:
    shared = f"{HOST}/users/helpdesk@contoso.com"
    inbox = http.get(f"{shared}/mailFolders/inbox").respond(json=folder("AAMkAShared=", "Inbox"))
    delta = http.get(f"{shared}/mailFolders/AAMkAShared=/messages/delta").respond(
        json=page([], delta_token="D1")
    )
    source = connected(graph_config(mailbox="helpdesk@contoso.com"))
    source.baseline()
    assert inbox.called and delta.called


def test_graph_unknown_mailbox_is_a_config_error_naming_the_field(http: respx.MockRouter) -> None:
    http.get(f"{HOST}/users/nobody@contoso.com/mailFolders/inbox").respond(
        404,
        json=graph_error("ErrorInvalidUser", "The requested user 'nobody@contoso.com' is invalid."),
    )
    with pytest.raises(SourceConfigError) as raised:
        connected(graph_config(mailbox="nobody@contoso.com"))
    assert raised.value.field == "mailbox" and "is invalid" in raised.value.problem


# -- throttling and refusals ------------------------------------------------------------------


def test_graph_throttled_request_waits_for_retry_after_and_succeeds(
    http: respx.MockRouter, source: GraphSource, sleeps: list[float]
) -> None:
    throttled = httpx.Response(
        429,
        headers={"Retry-After": "2"},
        json=graph_error(
            "ApplicationThrottled", "Application is over its MailboxConcurrency limit."
        ),
    )
    http.get(f"{MAILBOX}/mailFolders/{INBOX_ID}/messages/delta").mock(
        side_effect=[throttled, httpx.Response(200, json=page([], delta_token="D1"))]
    )
    cursor = graph_cursor(source.list_new(source.baseline(SINCE)).cursor)
    assert sleeps == [2.0] and cursor.delta_link == link("deltatoken", "D1")


def test_graph_throttling_longer_than_the_bound_is_a_connection_error(
    http: respx.MockRouter, source: GraphSource, sleeps: list[float]
) -> None:
    on_link(http, "deltatoken", "D1").respond(
        503,
        headers={"Retry-After": "3600"},
        json=graph_error("ServiceUnavailable", "The service is temporarily unavailable."),
    )
    with pytest.raises(SourceConnectionError) as raised:
        source.list_new(GraphCursor(link("deltatoken", "D1"), SINCE))
    assert sleeps == [] and "3600" in str(raised.value)


def test_graph_expired_token_is_an_auth_error_in_graphs_words(http: respx.MockRouter) -> None:
    http.routes["inbox"].respond(
        401,
        json=graph_error(
            "InvalidAuthenticationToken", "Access token has expired or is not yet valid."
        ),
    )
    with pytest.raises(SourceAuthError) as raised:
        connected(graph_config())
    assert raised.value.server_message == (
        "InvalidAuthenticationToken: Access token has expired or is not yet valid."
    )
    assert TOKEN not in str(raised.value)


def test_graph_access_denied_is_an_auth_error(http: respx.MockRouter, source: GraphSource) -> None:
    http.get(f"{MAILBOX}/messages/{message_id(1)}").respond(
        403,
        json=graph_error("ErrorAccessDenied", "Access is denied. Check credentials and try again."),
    )
    with pytest.raises(SourceAuthError) as raised:
        source.fetch(ref(1))
    assert "ErrorAccessDenied: Access is denied" in raised.value.server_message


def test_graph_token_provider_failure_reaches_the_source_as_auth_error() -> None:
    def refused() -> str:
        raise SourceAuthError("Microsoft refused to refresh the access token", "invalid_grant: x")

    with respx.mock() as router, pytest.raises(SourceAuthError) as raised:
        connected(graph_config(access_token=refused))
    assert raised.value.server_message == "invalid_grant: x" and not router.calls


def test_graph_with_application_token_provider_end_to_end(http: respx.MockRouter) -> None:
    tenant = "9188040d-6c67-4c5b-b112-36a304b66dad"
    login = f"https://login.microsoftonline.com/{tenant}"
    http.get(f"{login}/v2.0/.well-known/openid-configuration").respond(
        json={
            "token_endpoint": f"{login}/oauth2/v2.0/token",
            "authorization_endpoint": f"{login}/oauth2/v2.0/authorize",
            "issuer": f"{login}/v2.0",
        }
    )
    token = http.post(f"{login}/oauth2/v2.0/token").respond(
        json={"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0eXAi.app-only"}
    )
    oauth = OAuthClientConfig(
        "microsoft", "6731de76", "app-secret", tenant=tenant, protocol="graph", access="application"
    )
    provider = TokenProvider(oauth, source="src-graph")
    http.get(f"{HOST}/users/helpdesk@contoso.com/mailFolders/inbox").respond(
        json=folder("AAMkAShared=", "Inbox")
    )
    source = connected(graph_config(access_token=provider, mailbox="helpdesk@contoso.com"))
    assert token.call_count == 1 and source.config.mailbox == "helpdesk@contoso.com"
    assert http.calls.last.request.headers["Authorization"] == "Bearer eyJ0eXAi.app-only"


# -- safety and wiring ------------------------------------------------------------------------


def test_graph_refuses_to_send_the_token_to_a_link_outside_graph(source: GraphSource) -> None:
    forged = GraphCursor("https://graph.example.net/v1.0/steal?$deltatoken=x", SINCE)
    with pytest.raises(SourceError) as raised:
        source.list_new(forged)
    assert "refusing a link" in str(raised.value)


def test_graph_config_refuses_hosts_other_than_graph_and_mailbox_outside_graph() -> None:
    with pytest.raises(SourceConfigError) as host:
        graph_config(host="graph.example.net")
    with pytest.raises(SourceConfigError) as mailbox:
        SourceConfig("imap", "outlook.office365.com", 993, "a@contoso.com", "pw", mailbox="b@x")
    assert (host.value.field, mailbox.value.field) == ("host", "mailbox")


def test_open_source_returns_the_graph_adapter() -> None:
    assert isinstance(open_source(graph_config()), GraphSource)


@pytest.mark.parametrize(
    "cursor",
    [
        GraphCursor(link("deltatoken", "D1"), SINCE),
        GraphCursor(link("skiptoken", "S1"), SINCE, (message_id(1), message_id(2)), resync=True),
    ],
)
def test_graph_cursor_json_round_trip_is_equal(cursor: GraphCursor) -> None:
    assert cursor_from_json(cursor.to_json()) == cursor


@pytest.mark.parametrize(
    "text",
    [
        '{"kind": "graph", "since": "2025-03-01T08:00:00+00:00"}',
        '{"kind": "graph", "delta_link": "http://graph.microsoft.com/x", "since": "2025-03-01"}',
        '{"kind": "graph", "delta_link": "https://graph.microsoft.com/x", "since": "2025-03-01"}',
        '{"kind": "graph", "delta_link": "https://g/x", "since": "2025-03-01T08:00:00Z", '
        '"pending": "abc"}',
    ],
)
def test_graph_cursor_from_bad_json_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        cursor_from_json(text)


def test_graph_cursor_advanced_refuses_imap_refs() -> None:
    cursor = GraphCursor(link("deltatoken", "D1"), SINCE, (message_id(1),))
    with pytest.raises(ValueError):
        cursor.advanced(MessageRef("7", 10, "INBOX", 99))
    assert cursor.advanced(ref(1)).pending == ()
    assert cursor.advanced(ref(2)) == cursor  # not pending: nothing changes


# -- diagnosis --------------------------------------------------------------------------------


def test_graph_diagnosis_signs_in_opens_folder_and_counts(http: respx.MockRouter) -> None:
    from connector.sources.diagnose import diagnose

    http.get(f"{MAILBOX}/mailFolders/{INBOX_ID}/messages").respond(
        json={"@odata.count": 42, "value": []}
    )
    report = diagnose(graph_config())
    assert [(step.name, step.ok) for step in report.steps] == [
        ("authenticate", True),
        ("folder", True),
        ("messages", True),
    ]
    assert report.ok
    counted = report.step("messages")
    assert counted is not None and counted.data["total"] == 42


def test_graph_diagnosis_missing_folder_stops_at_sign_in_with_the_reason(
    http: respx.MockRouter,
) -> None:
    from connector.sources.diagnose import diagnose

    http.get(f"{MAILBOX}/mailFolders", params={"$top": "100"}).respond(
        json={"value": [folder(INBOX_ID, "Inbox")]}
    )
    report = diagnose(graph_config(folder="Tickets"))
    assert not report.ok
    assert [(step.name, step.ok) for step in report.steps] == [("authenticate", False)]
    failed = report.step("authenticate")
    assert failed is not None and "Tickets" in (failed.error or "")
