"""The port every mailbox adapter plugs into (DESIGN.md "Seams"): `MailSource` and its values.

How the pipeline drives a source, so that a crash never loses mail nor processes it twice:

    source.connect()
    listing = source.list_new(cursor)          # cursor: the one stored, or source.baseline()
    cursor = listing.cursor
    for ref in listing.refs:
        raw = source.fetch(ref)                # MessageTooLarge: record, then mark_done(False)
        ... record the message (source, ref.key, Message-ID) ...
        source.mark_done(ref, success=True)    # the post-action: read / delete / move
        cursor = cursor.advanced(ref)          # and store it
    source.close()

After a UIDVALIDITY change (`listing.rescan`) the refs may include mail processed before: one
whose Message-ID is already recorded (see `fetch_message_ids`) is skipped, but the cursor still
advances past it. Adapters take the cursor in and hand a new one out; they never decide that a
message was processed. Cursors are plain JSON (`to_json` / `cursor_from_json`) so storage can
keep them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol, Self

from connector import logs
from connector.sources.config import (
    AccessTokenProvider,
    AfterProcessing,
    ProtocolName,
    Security,
    SourceConfig,
)
from connector.sources.errors import (
    FolderNotFound,
    MessageTooLarge,
    MessageVanished,
    SourceAuthError,
    SourceConfigError,
    SourceConnectionError,
    SourceError,
    SourceTlsError,
)
from connector.sources.graph_cursor import GraphCursor

_log = logging.getLogger(__name__)

__all__ = [
    "AccessTokenProvider",
    "AfterProcessing",
    "Cursor",
    "FolderNotFound",
    "GraphCursor",
    "ImapCursor",
    "Listing",
    "MailSource",
    "MessageRef",
    "MessageTooLarge",
    "MessageVanished",
    "Pop3Cursor",
    "ProtocolName",
    "Security",
    "SourceAuthError",
    "SourceConfig",
    "SourceConfigError",
    "SourceConnectionError",
    "SourceError",
    "SourceSession",
    "SourceTlsError",
    "cursor_from_json",
]


@dataclass(frozen=True)
class MessageRef:
    """One message as listed: enough to fetch it, act on it and record it.

    `uid` is the IMAP UID in decimal, or the POP3 UIDL. An IMAP UID means something only
    together with the folder's UIDVALIDITY (RFC 3501 §2.3.1.1), which is why it travels along.
    """

    uid: str
    size: int
    folder: str
    uidvalidity: int | None = None

    @property
    def key(self) -> str:
        """Stable identity for the email log: unique per folder and UIDVALIDITY (or UIDL)."""
        if self.uidvalidity is None:
            return f"{self.folder}:{self.uid}"
        return f"{self.folder}:{self.uidvalidity}:{self.uid}"

    @classmethod
    def from_key(cls, key: str, protocol: str) -> MessageRef:
        """The ref a `key` of this protocol was made from (size unknown), to act on a message
        recorded earlier: an IMAP UIDVALIDITY and UID are digits, a POP3 folder is always
        INBOX (a UIDL may hold a colon), a Graph message id holds none."""
        if protocol == "imap":
            folder, uidvalidity, uid = key.rsplit(":", 2)
            return cls(uid, 0, folder, int(uidvalidity))
        if protocol == "pop3":
            folder, _, uid = key.partition(":")
        else:
            folder, _, uid = key.rpartition(":")
        return cls(uid, 0, folder)


@dataclass(frozen=True)
class ImapCursor:
    """Everything up to `last_uid` under `uidvalidity` is done. `since` is the day the source
    was first connected (or the admin's backlog date): a UIDVALIDITY change rescans from there,
    not from the beginning of time."""

    uidvalidity: int
    last_uid: int
    since: date | None = None

    def __post_init__(self) -> None:
        _check_count("uidvalidity", self.uidvalidity)
        _check_count("last_uid", self.last_uid)

    def advanced(self, ref: MessageRef) -> ImapCursor:
        if ref.uidvalidity is None or not ref.uid.isdigit():
            raise ValueError(f"{ref!r} is not an IMAP message")
        if ref.uidvalidity != self.uidvalidity:
            # The folder was recreated: the old UIDs mean nothing, the new series starts here.
            return ImapCursor(ref.uidvalidity, int(ref.uid), self.since)
        return ImapCursor(self.uidvalidity, max(self.last_uid, int(ref.uid)), self.since)

    def to_json(self) -> str:
        since = self.since.isoformat() if self.since else None
        return json.dumps(
            {
                "kind": "imap",
                "uidvalidity": self.uidvalidity,
                "last_uid": self.last_uid,
                "since": since,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ImapCursor:
        data = _load(text, "imap")
        since = data.get("since")
        try:
            return cls(
                data["uidvalidity"], data["last_uid"], date.fromisoformat(since) if since else None
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an IMAP cursor: {text!r}") from exc


@dataclass(frozen=True)
class Pop3Cursor:
    """The UIDLs already processed (RFC 1939 §7: unique and persistent per message)."""

    seen_uidls: frozenset[str]

    def advanced(self, ref: MessageRef) -> Pop3Cursor:
        if ref.uidvalidity is not None:
            raise ValueError(f"{ref!r} is not a POP3 message")
        return Pop3Cursor(self.seen_uidls | {ref.uid})

    def to_json(self) -> str:
        return json.dumps({"kind": "pop3", "seen_uidls": sorted(self.seen_uidls)})

    @classmethod
    def from_json(cls, text: str) -> Pop3Cursor:
        uidls = _load(text, "pop3").get("seen_uidls")
        if not isinstance(uidls, list) or not all(isinstance(u, str) for u in uidls):
            raise ValueError(f"not a POP3 cursor: {text!r}")
        return cls(frozenset(uidls))


Cursor = ImapCursor | Pop3Cursor | GraphCursor


def cursor_from_json(text: str) -> Cursor:
    kind = _load(text, None).get("kind")
    if kind == "imap":
        return ImapCursor.from_json(text)
    if kind == "pop3":
        return Pop3Cursor.from_json(text)
    if kind == "graph":
        return GraphCursor.from_json(text)
    raise ValueError(f"unknown cursor kind {kind!r}")


@dataclass(frozen=True)
class Listing:
    """What `list_new` found. `cursor` is the one to keep while none of `refs` is done yet (for
    POP3 it forgets UIDLs no longer on the server). `rescan`: UIDVALIDITY changed, so `refs`
    may hold messages processed before; the caller dedupes them by Message-ID."""

    refs: tuple[MessageRef, ...]
    cursor: Cursor
    rescan: bool = False
    has_more: bool = False
    warnings: tuple[str, ...] = ()


class MailSource(Protocol):
    """One mailbox behind one connection. Not thread-safe: one poll at a time per source."""

    @property
    def config(self) -> SourceConfig: ...

    @property
    def warnings(self) -> tuple[str, ...]:
        """Things an admin should see though the connection works (e.g. TLS not verified)."""
        ...

    def connect(self) -> None:
        """Open, secure and authenticate; after a SourceConnectionError call it again."""
        ...

    def baseline(self, since: datetime | None = None) -> Cursor:
        """A cursor at the current end of the mailbox, or before the first message of `since`."""
        ...

    def estimate_backlog(self, since: datetime) -> int:
        """How many messages arrived since `since` (for "enable" to ask before processing)."""
        ...

    def list_new(self, cursor: Cursor, limit: int = 500) -> Listing: ...

    def fetch(self, ref: MessageRef) -> bytes: ...

    def fetch_message_ids(self, refs: Sequence[MessageRef]) -> dict[str, str | None]:
        """Message-ID by `ref.uid`, read from the headers only: cheap dedupe after a rescan."""
        ...

    def mark_done(self, ref: MessageRef, success: bool) -> None: ...

    def mark_done_many(self, refs: Sequence[MessageRef], success: bool) -> None:
        """`mark_done` for several messages; adapters that can do it in one command do."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class SourceSession:
    """What every adapter shares: its settings, its TLS warnings, and `with` support."""

    def __init__(self, config: SourceConfig, warnings: tuple[str, ...]) -> None:
        self._config = config
        self._warnings = warnings

    @property
    def config(self) -> SourceConfig:
        return self._config

    @property
    def warnings(self) -> tuple[str, ...]:
        return self._warnings

    def connect(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def mark_done(self, ref: MessageRef, success: bool) -> None:
        raise NotImplementedError

    def mark_done_many(self, refs: Sequence[MessageRef], success: bool) -> None:
        for ref in refs:
            self.mark_done(ref, success)

    def _refuse_oversize(self, ref: MessageRef, size: int | None = None) -> None:
        """Raise `MessageTooLarge` (and say so in the log) when the message is over the limit;
        called before any of its body is downloaded."""
        limit = self._config.max_message_bytes
        size = ref.size if size is None else size
        if size > limit:
            logs.event(
                _log,
                "source.oversize",
                source=self._config.label,
                uid=ref.uid,
                size=size,
                limit=limit,
            )
            raise MessageTooLarge(replace(ref, size=size), limit)

    def _log_auth_failed(self, exc: SourceAuthError) -> None:
        logs.event(
            _log,
            "source.auth_failed",
            logging.WARNING,
            source=self._config.label,
            server=exc.server_message,
        )

    def _log_connected(self) -> None:
        config = self._config
        for warning in self._warnings:
            logs.event(
                _log, "source.insecure", logging.WARNING, source=config.label, warning=warning
            )
        logs.event(
            _log,
            "source.connected",
            logging.DEBUG,
            source=config.label,
            protocol=config.protocol,
            security=config.security,
            verify_tls=config.verify_tls,
        )

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _load(text: str, kind: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cursor is not JSON: {text!r}") from exc
    if not isinstance(data, dict) or (kind is not None and data.get("kind") != kind):
        raise ValueError(f"not a {kind or 'known'} cursor: {text!r}")
    return data


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")
