"""Microsoft 365 mailboxes through Microsoft Graph (v1.0) behind the `MailSource` Protocol.

New mail is found with a delta query on the folder ("Get incremental changes to messages in a
folder"), asked for `changeType=created` so that marking a message read or a person flagging it
does not list it again, and filtered on `receivedDateTime ge <since>` so that the first round
covers only mail from the moment the source was connected (the filter is carried inside every
link Graph hands back). The position is a `GraphCursor`; the \\Seen-like `isRead` flag is
never used to decide what is new. Messages are fetched as MIME (`$value`), the same bytes IMAP
would give.

Sizes: Graph v1.0 has no size property on a message. Before downloading, `fetch` reads the
store size (MAPI `PidTagMessageSize`, extended property `Integer 0x0E08`) and refuses what is
over the limit; the MIME is then read as a stream and abandoned as soon as it passes the limit,
since base64 makes MIME larger than the stored size.

After processing: `mark_read` PATCHes `isRead`, `move` POSTs to `/move`, and `delete` is
Graph's DELETE, which moves the message to Deleted Items ("Delete message": recoverable by the
mailbox owner, like deleting in Outlook) rather than purging it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NoReturn

import httpx

from connector import logs
from connector.sources.base import Cursor, Listing, MessageRef, SourceSession
from connector.sources.config import SourceConfig
from connector.sources.errors import (
    MessageTooLarge,
    MessageVanished,
    SourceConfigError,
    SourceConnectionError,
    SourceError,
)
from connector.sources.graph_cursor import GraphCursor
from connector.sources.graph_folders import GraphFolders
from connector.sources.graph_http import GraphClient, GraphGone, GraphNotFound, GraphTooLarge
from connector.sources.tls import connection_warnings

log = logging.getLogger(__name__)

DELTA_SELECT = "id,internetMessageId,receivedDateTime,isRead"
MESSAGE_SIZE_TAG = 0x0E08  # PidTagMessageSize ([MS-OXPROPS]), a 32-bit integer
MESSAGE_SIZE_PROPERTY = f"Integer 0x{MESSAGE_SIZE_TAG:04X}"
PAGE_SIZE = 100


class GraphSource(SourceSession):
    """One folder of one Microsoft 365 mailbox. `connect` proves the token and finds the
    folder: Graph has no login, so the first request is the test."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if config.protocol != "graph":
            raise SourceConfigError("protocol", f"GraphSource reads Graph, not {config.protocol}")
        super().__init__(config, connection_warnings(config))
        self._http_client = http_client
        self._sleep = sleep
        self._graph: GraphClient | None = None
        self._folders: GraphFolders | None = None
        self._message_ids: dict[str, str | None] = {}  # Message-ID by id, as listed

    # -- session ------------------------------------------------------------------------------

    def connect(self) -> None:
        self.close()
        config = self._config
        self._graph = GraphClient(config, http_client=self._http_client, sleep=self._sleep)
        self._folders = GraphFolders(self._graph, config)
        try:
            self._folder_id(config.folder)
        except SourceError as exc:
            logs.event(
                log,
                "source.connect_failed",
                logging.WARNING,
                source=config.label,
                error=getattr(exc, "server_message", None) or exc,
            )
            self.close()
            raise
        self._log_connected()

    def close(self) -> None:
        graph, self._graph, self._folders = self._graph, None, None
        self._message_ids.clear()
        if graph is not None:
            graph.close()

    def _client(self) -> GraphClient:
        if self._graph is None:
            raise SourceConnectionError("not connected to Microsoft Graph; call connect()")
        return self._graph

    def _folder_id(self, path: str, *, create: bool = False) -> str:
        if self._folders is None:
            raise SourceConnectionError("not connected to Microsoft Graph; call connect()")
        return self._folders.folder_id(path, create=create)

    def list_folders(self) -> list[str]:
        """Every folder of the mailbox as a `Parent/Child` path (for a diagnosis)."""
        self._client()
        assert self._folders is not None
        return self._folders.list_folders()

    # -- reading ------------------------------------------------------------------------------

    def baseline(self, since: datetime | None = None) -> GraphCursor:
        """With `since`: a first round from that moment, listed by the next `list_new`.
        Without: a round from now, run to its end here; whatever arrived while it ran is
        after the moment and stays pending, so it is processed."""
        folder_id = self._folder_id(self._config.folder)
        if since is not None:
            moment = _utc(since)
            return GraphCursor(self._delta_start(folder_id, moment), moment)
        moment = datetime.now(UTC).replace(microsecond=0)
        link, fresh, _ = self._run_delta(self._delta_start(folder_id, moment), (), None)
        return GraphCursor(link, moment, tuple(fresh))

    def estimate_backlog(self, since: datetime) -> int:
        graph = self._client()
        url = graph.url("mailFolders", self._folder_id(self._config.folder), "messages")
        params = {
            "$filter": f"receivedDateTime ge {_odata_time(_utc(since))}",
            "$count": "true",
            "$select": "id",
            "$top": "1",
        }
        page = graph.get_json(url, "count messages", params)
        count = page.get("@odata.count")
        if isinstance(count, int) and not isinstance(count, bool):
            return count
        # No count offered: page through the ids, which is all that is asked for.
        page = graph.get_json(url, "count messages", params | {"$top": "1000", "$count": "false"})
        return sum(len(page.get("value") or []) for page in graph.pages(page, "count messages"))

    def list_new(self, cursor: Cursor, limit: int = 500) -> Listing:
        if not isinstance(cursor, GraphCursor):
            raise TypeError(f"a Graph source needs a GraphCursor, not {type(cursor).__name__}")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        rescan = cursor.resync
        try:
            link, fresh, more = self._run_delta(cursor.delta_link, cursor.pending, limit)
        except GraphNotFound as exc:  # the folder itself was deleted
            assert self._folders is not None
            raise self._folders.not_found(self._config.folder, exc) from exc
        except GraphGone as exc:
            # The delta token expired (Graph keeps sync state for a limited time): start a
            # new round from `since`. Messages processed before come again; their keys are
            # in the email log, and `rescan` tells the caller to dedupe by Message-ID.
            logs.event(
                log, "source.delta_restarted", logging.WARNING, source=self._config.label, why=exc
            )
            rescan = True
            start = self._delta_start(self._folder_id(self._config.folder), cursor.since)
            link, fresh, more = self._run_delta(start, cursor.pending, limit)
        uids = [*cursor.pending, *fresh]
        refs = tuple(MessageRef(uid, 0, self._config.folder) for uid in uids[:limit])
        more = more or len(uids) > limit
        next_cursor = GraphCursor(link, cursor.since, tuple(uids), rescan and bool(uids or more))
        logs.event(
            log,
            "source.polled",
            logging.INFO if refs else logging.DEBUG,
            source=self._config.label,
            new=len(refs),
            more=more,
            rescan=rescan,
        )
        return Listing(refs, next_cursor, rescan, more, self._warnings)

    def _run_delta(
        self, link: str, known: Sequence[str], limit: int | None
    ) -> tuple[str, list[str], bool]:
        """Follow a delta round from `link`: (the link to resume from, ids of messages new to
        this round in arrival order, whether it stopped at `limit` before the round's end)."""
        graph = self._client()
        seen = set(known)
        fresh: list[tuple[str, str]] = []
        prefer = f"odata.maxpagesize={PAGE_SIZE}"
        followed = {link}
        while True:
            page = graph.get_json(link, "list new messages", prefer=prefer)
            for item in page.get("value") or []:
                uid = item.get("id")
                if not isinstance(uid, str) or uid in seen or "@removed" in item:
                    continue  # a removed message is gone: nothing to process
                seen.add(uid)
                message_id = item.get("internetMessageId")
                self._message_ids[uid] = message_id if isinstance(message_id, str) else None
                fresh.append((str(item.get("receivedDateTime") or ""), uid))
            next_link, delta_link = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
            if isinstance(delta_link, str):
                link, more = delta_link, False
                break
            if not isinstance(next_link, str):
                raise SourceError("list new messages: Graph sent neither a next nor a delta link")
            if next_link in followed:  # a server that loops must not hold a worker forever
                raise SourceError("list new messages: Microsoft Graph repeated a next link")
            link = next_link
            followed.add(link)
            if limit is not None and len(known) + len(fresh) >= limit:
                more = True
                break
        # The delta order is not guaranteed ("message: delta"): oldest first, like IMAP UIDs.
        # `receivedDateTime` is to the second, and ids are opaque: messages of one second keep
        # the order Graph listed them in (arrival, in practice), not their ids' random order,
        # which put a reply before the message it answers when both came in that second.
        fresh.sort(key=lambda item: item[0])
        return link, [uid for _, uid in fresh], more

    def _delta_start(self, folder_id: str, since: datetime) -> str:
        params = {
            "changeType": "created",
            "$select": DELTA_SELECT,
            "$filter": f"receivedDateTime ge {_odata_time(since)}",
        }
        url = self._client().url("mailFolders", folder_id, "messages", "delta")
        return str(httpx.URL(url, params=params))

    def fetch(self, ref: MessageRef) -> bytes:
        graph = self._client()
        url = self._message_url(ref)
        limit = self._config.max_message_bytes
        params = {
            "$select": "id,internetMessageId",
            "$expand": f"singleValueExtendedProperties($filter=id eq '{MESSAGE_SIZE_PROPERTY}')",
        }
        try:
            meta = graph.get_json(url, "read message size", params)
            size = _stored_size(meta)
            if size is not None and size > limit:
                self._oversize(ref, size, limit)
            body = graph.read_limited(f"{url}/$value", "fetch message", limit)
        except GraphNotFound as exc:
            raise MessageVanished(ref) from exc
        except GraphTooLarge as exc:
            self._oversize(ref, exc.received, limit)
        if isinstance(meta.get("internetMessageId"), str):
            self._message_ids[ref.uid] = meta["internetMessageId"]
        return body

    def _oversize(self, ref: MessageRef, size: int, limit: int) -> NoReturn:
        logs.event(
            log, "source.oversize", source=self._config.label, uid=ref.uid, size=size, limit=limit
        )
        raise MessageTooLarge(replace(ref, size=size), limit)

    def fetch_message_ids(self, refs: Sequence[MessageRef]) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for ref in refs:
            if ref.uid in self._message_ids:
                found[ref.uid] = self._message_ids[ref.uid]
                continue
            try:
                meta = self._client().get_json(
                    self._message_url(ref), "read Message-ID", {"$select": "internetMessageId"}
                )
            except GraphNotFound:
                found[ref.uid] = None
                continue
            value = meta.get("internetMessageId")
            found[ref.uid] = value if isinstance(value, str) else None
        return found

    # -- after processing ---------------------------------------------------------------------

    def mark_done(self, ref: MessageRef, success: bool) -> None:
        """The post-action, called only once the caller has recorded the message."""
        graph = self._client()
        config = self._config
        url = self._message_url(ref)
        action: str = config.after_processing if success else "none"
        try:
            if success and config.after_processing == "mark_read":
                graph.request("PATCH", url, "mark the message read", body={"isRead": True})
            elif success and config.after_processing == "delete":
                graph.request("DELETE", url, "delete the message")
            elif success and config.success_folder:
                self._move(url, config.success_folder)
            elif not success and config.failure_folder:
                self._move(url, config.failure_folder)
                action = "move_to_failure_folder"
        except GraphNotFound as exc:
            raise MessageVanished(ref) from exc
        logs.event(
            log,
            "source.marked_done",
            source=config.label,
            uid=ref.uid,
            success=success,
            action=action,
        )

    def _move(self, url: str, folder: str) -> None:
        destination = self._folder_id(folder, create=True)
        self._client().request(
            "POST", f"{url}/move", "move the message", body={"destinationId": destination}
        )

    def _message_url(self, ref: MessageRef) -> str:
        if ref.uidvalidity is not None or not ref.uid:
            raise TypeError(f"{ref!r} is not a Microsoft Graph message")
        return self._client().url("messages", ref.uid)


def _stored_size(message: dict[str, Any]) -> int | None:
    for prop in message.get("singleValueExtendedProperties") or []:
        # Graph answers with its own spelling of the id ("Integer 0xe08") and a string value.
        kind, _, tag = str(prop.get("id", "")).partition(" ")
        try:
            if kind.lower() == "integer" and int(tag, 16) == MESSAGE_SIZE_TAG:
                return int(prop.get("value"))
        except (TypeError, ValueError):
            return None
    return None


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _odata_time(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
