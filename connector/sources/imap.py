"""IMAP mailboxes (RFC 3501, RFC 9051) through imap-tools' connections and imaplib's commands.

The position in a folder is a cursor, UIDVALIDITY + last UID, never the \\Seen flag: a person
reading the mailbox in their mail client must not make us skip a message. Fetching uses
BODY.PEEK so that reading does not set \\Seen either. An idle poll is one SELECT (whose UIDNEXT
already says whether anything arrived) and at most one `UID SEARCH` above the cursor, so it
costs the same in a folder of 50,000 messages as in one of 10.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import ssl
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from connector import logs
from connector.net.clients import PinnedIMAP4, Route
from connector.sources import imap_wire as wire
from connector.sources.base import Cursor, ImapCursor, Listing, MessageRef, SourceSession
from connector.sources.config import SourceConfig, is_excluded, same_folder
from connector.sources.errors import (
    FolderNotFound,
    MessageVanished,
    SourceAuthError,
    SourceConfigError,
    SourceConnectionError,
    SourceError,
    SourceTlsError,
)
from connector.sources.imap_session import (
    FolderStatus,
    Selected,
    guard_errors,
    login,
    read_folder_status,
    select_folder,
)
from connector.sources.tls import client_context, connection_warnings

log = logging.getLogger(__name__)

# imaplib refuses response lines over a megabyte; a `UID SEARCH` answer in a big folder can be
# longer. 20 MB is what imap-tools sets when it is imported (as `imap_wire` does): said here
# so the limit does not depend on that.
imaplib._MAXLINE = max(imaplib._MAXLINE, 20 * 1024 * 1024)  # type: ignore[attr-defined]


class ImapSource(SourceSession):
    """One IMAP folder behind the `MailSource` Protocol. One connection, one poll at a time."""

    def __init__(self, config: SourceConfig) -> None:
        if config.protocol != "imap":
            raise SourceConfigError("protocol", f"ImapSource reads IMAP, not {config.protocol}")
        super().__init__(config, connection_warnings(config))
        self._imap: imaplib.IMAP4 | None = None
        self._capabilities: frozenset[str] = frozenset()
        self._delimiter: str | None = None
        self._selected: Selected | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        return self._capabilities

    # -- session ------------------------------------------------------------------------------

    def connect(self) -> None:
        self.close()
        config = self._config
        with guard_errors(config, "connect", self._drop):
            self._imap = _open_client(config)
        client = self._imap
        with guard_errors(config, "login", self._drop):
            try:
                login(client, config)
            except SourceAuthError as exc:
                self._drop()
                self._log_auth_failed(exc)
                raise
            # The capabilities before login are not those after it (RFC 3501 §6.2.3 allows
            # them to change), and MOVE and UIDPLUS are typically only announced after.
            _, data = client.capability()
            self._capabilities = frozenset(wire.response_text(data).upper().split())
            _, data = client.list('""', '""')
            self._delimiter = wire.parse_delimiter(data)
        self._log_connected()

    def close(self) -> None:
        client, self._imap, self._selected = self._imap, None, None
        if client is None:
            return
        try:
            # LOGOUT, not CLOSE: CLOSE would expunge whatever others flagged \Deleted.
            client.logout()
        except (imaplib.IMAP4.error, OSError, EOFError):
            _discard(client)

    def _drop(self) -> None:
        """Forget a connection that broke; the next operation needs `connect()` again."""
        client, self._imap, self._selected = self._imap, None, None
        if client is not None:
            _discard(client)

    def _client(self) -> imaplib.IMAP4:
        if self._imap is None:
            raise SourceConnectionError(f"not connected to {self._config.host}; call connect()")
        return self._imap

    def _select(self, folder: str) -> Selected:
        if is_excluded(folder, self._config.exclusion_folders):
            raise SourceConfigError("folder", f"{folder!r} is an exclusion folder: never read")
        self._selected = None
        server_name = wire.server_folder_name(folder, self._delimiter)
        with guard_errors(self._config, "select", self._drop):
            self._selected = select_folder(self._client(), folder, server_name)
        return self._selected

    def _command(self, action: str, command: str, *args: str) -> list[Any]:
        """A UID command that must succeed; NO becomes a SourceError with the server's words."""
        with guard_errors(self._config, action, self._drop):
            typ, data = self._client().uid(command, *args)
        if typ != "OK":
            raise SourceError(
                f"{action}: {self._config.host} refused UID {command}: {wire.response_text(data)}"
            )
        return data

    # -- reading ------------------------------------------------------------------------------

    def baseline(self, since: datetime | None = None) -> ImapCursor:
        """Cursor at the end of the folder, so earlier mail is left alone; with `since`, just
        before the first message that arrived on or after that day (the admin's backlog)."""
        state = self._select(self._config.folder)
        if since is None:
            return ImapCursor(state.uidvalidity, state.last_uid, datetime.now(UTC).date())
        uids = self._search(f"SINCE {wire.search_date(_day(since))}")
        last_uid = uids[0] - 1 if uids else state.last_uid
        return ImapCursor(state.uidvalidity, last_uid, _day(since))

    def estimate_backlog(self, since: datetime) -> int:
        self._select(self._config.folder)
        return len(self._search(f"SINCE {wire.search_date(_day(since))}"))

    def list_new(self, cursor: Cursor, limit: int = 500) -> Listing:
        if not isinstance(cursor, ImapCursor):
            raise TypeError(f"an IMAP source needs an ImapCursor, not {type(cursor).__name__}")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        state = self._select(self._config.folder)
        rescan = state.uidvalidity != cursor.uidvalidity
        if rescan:
            # The folder was recreated or rebuilt: old UIDs mean nothing (RFC 3501 §2.3.1.1).
            # Start again from the baseline day; the caller skips Message-IDs it already has.
            uids = self._search(
                f"SINCE {wire.search_date(cursor.since)}" if cursor.since else "ALL"
            )
            logs.event(
                log,
                "source.uidvalidity_changed",
                logging.WARNING,
                source=self._config.label,
                old=cursor.uidvalidity,
                new=state.uidvalidity,
                candidates=len(uids),
            )
        elif state.uidnext is not None and state.uidnext - 1 <= cursor.last_uid:
            uids = []  # SELECT's UIDNEXT shows nothing newer: no search needed at all
        else:
            # `n:*` matches the highest UID even when that is below n (RFC 9051 §6.4.9: a range
            # is unordered and `*` is the largest UID in use), so older UIDs are filtered out.
            found = self._search(f"UID {cursor.last_uid + 1}:*")
            uids = [uid for uid in found if uid > cursor.last_uid]
        refs = self._refs(uids[:limit], state)
        next_cursor = cursor
        if rescan and not uids:
            next_cursor = ImapCursor(state.uidvalidity, state.last_uid, cursor.since)
        # An idle poll every minute is not news; a poll that found mail is.
        logs.event(
            log,
            "source.polled",
            logging.INFO if refs else logging.DEBUG,
            source=self._config.label,
            new=len(refs),
            more=len(uids) > limit,
            rescan=rescan,
        )
        return Listing(tuple(refs), next_cursor, rescan, len(uids) > limit, self._warnings)

    def fetch(self, ref: MessageRef) -> bytes:
        self._ensure_selected(ref)
        # RFC822.SIZE came with the listing, so an oversize body is never downloaded.
        self._refuse_oversize(ref)
        data = self._command("fetch", "FETCH", ref.uid, "(BODY.PEEK[])")
        body = wire.parse_bodies(data).get(int(ref.uid))
        if body is None:
            raise MessageVanished(ref)
        return body

    def fetch_message_ids(self, refs: Sequence[MessageRef]) -> dict[str, str | None]:
        found: dict[str, str | None] = {ref.uid: None for ref in refs}
        if not refs:
            return found
        self._ensure_selected(refs[0])
        for uid_set in wire.uid_sets([int(ref.uid) for ref in refs]):
            data = self._command(
                "fetch", "FETCH", uid_set, "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
            )
            for uid, header_block in wire.parse_bodies(data).items():
                if str(uid) in found:
                    found[str(uid)] = wire.parse_message_id(header_block)
        return found

    def folder_status(self, folder: str | None = None) -> FolderStatus:
        """Counts without selecting (STATUS, RFC 3501 §6.3.10), e.g. for a diagnosis."""
        name = folder or self._config.folder
        server_name = wire.server_folder_name(name, self._delimiter)
        with guard_errors(self._config, "status", self._drop):
            return read_folder_status(self._client(), name, server_name)

    def list_folders(self) -> list[str]:
        """Selectable folders, written with `/` whatever the server's delimiter."""
        with guard_errors(self._config, "list", self._drop):
            typ, data = self._client().list('""', "*")
        names = []
        for encoded, flags in wire.parse_list_names(data if typ == "OK" else []):
            if "\\noselect" not in flags and "\\nonexistent" not in flags:
                server_name = wire.decode_mailbox(encoded)
                names.append(wire.display_folder_name(server_name, self._delimiter))
        return sorted(names)

    def _search(self, criteria: str) -> list[int]:
        return wire.parse_search(self._command("search", "SEARCH", criteria))

    def _refs(self, uids: list[int], state: Selected) -> list[MessageRef]:
        sizes: dict[int, int] = {}
        for uid_set in wire.uid_sets(uids):
            sizes.update(wire.parse_sizes(self._command("list", "FETCH", uid_set, "(RFC822.SIZE)")))
        # A message expunged between SEARCH and FETCH has no size: it is simply gone.
        return [
            MessageRef(str(uid), sizes[uid], state.folder, state.uidvalidity)
            for uid in uids
            if uid in sizes
        ]

    def _ensure_selected(self, ref: MessageRef) -> Selected:
        if ref.uidvalidity is None or not ref.uid.isdigit():
            raise TypeError(f"{ref!r} is not an IMAP message")
        state = self._selected
        if state is None or not same_folder(state.folder, ref.folder):
            state = self._select(ref.folder)
        if state.uidvalidity != ref.uidvalidity:
            raise SourceConnectionError(
                f"{ref.folder!r} was recreated since it was listed (UIDVALIDITY "
                f"{ref.uidvalidity} -> {state.uidvalidity}); list it again"
            )
        return state

    # -- after processing ---------------------------------------------------------------------

    def mark_done(self, ref: MessageRef, success: bool) -> None:
        """The post-action, called only once the caller has recorded the message."""
        self.mark_done_many([ref], success)

    def mark_done_many(self, refs: Sequence[MessageRef], success: bool) -> None:
        """The post-action for several recorded messages of the selected folder in one command
        each (a UID set, RFC 3501 §9 `sequence-set`): one round trip instead of one per message."""
        if not refs:
            return
        self._ensure_selected(refs[0])
        config = self._config
        uid_set = ",".join(ref.uid for ref in refs)
        action: str = config.after_processing if success else "none"
        if success and config.after_processing == "mark_read":
            self._command("mark read", "STORE", uid_set, "+FLAGS.SILENT", "(\\Seen)")
        elif success and config.after_processing == "delete":
            self._delete(uid_set)
        elif success and config.success_folder:
            self._move(uid_set, config.success_folder, "success_folder")
        elif not success and config.failure_folder:
            self._move(uid_set, config.failure_folder, "failure_folder")
            action = "move_to_failure_folder"
        logs.event(
            log,
            "source.marked_done",
            source=config.label,
            uids=uid_set if len(refs) <= 8 else f"{refs[0].uid}..{refs[-1].uid}",
            count=len(refs),
            success=success,
            action=action,
        )

    def _delete(self, uid: str) -> None:
        self._command("delete", "STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
        if "UIDPLUS" in self._capabilities:
            # Removes only this message (RFC 4315 §2.1); a plain EXPUNGE would also remove
            # whatever another client had flagged \Deleted in the meantime.
            self._command("delete", "EXPUNGE", uid)
        else:
            with guard_errors(self._config, "expunge", self._drop):
                self._client().expunge()
        self._client().untagged_responses.pop("EXPUNGE", None)

    def _move(self, uid: str, folder: str, field: str) -> None:
        target = wire.encode_mailbox(wire.server_folder_name(folder, self._delimiter, field))
        # RFC 6851 MOVE is atomic; without it, COPY then delete is the documented fallback.
        command = "MOVE" if "MOVE" in self._capabilities else "COPY"
        with guard_errors(self._config, "move", self._drop):
            typ, data = self._client().uid(command, uid, target)
            if typ == "NO" and "TRYCREATE" in wire.response_text(data).upper():
                # RFC 3501 §6.4.7: the target does not exist but may be created.
                created, reply = self._client().create(target)
                if created != "OK":
                    raise FolderNotFound(folder, wire.response_text(reply))
                logs.event(log, "source.folder_created", source=self._config.label, field=field)
                typ, data = self._client().uid(command, uid, target)
        if typ != "OK":
            raise FolderNotFound(folder, wire.response_text(data))
        if command == "COPY":
            self._delete(uid)
        self._client().untagged_responses.pop("EXPUNGE", None)


def _open_client(config: SourceConfig, tls: ssl.SSLContext | None = None) -> imaplib.IMAP4:
    """A greeted session to an address `config.host_policy` allows (`connector.net`). `tls`:
    a context to use instead of the process's shared `client_context(config)`."""
    if tls is None and config.security != "none":
        tls = client_context(config)
    timeout = float(config.timeout_seconds)
    route = Route(config.host_policy, tls if config.security == "ssl" else None)
    client = PinnedIMAP4(config.host, config.port, route=route, timeout=timeout)
    if config.security == "starttls":
        # imaplib refuses when STARTTLS is not announced rather than carrying on in clear
        # text: stripping that capability is the classic downgrade (RFC 2595 §3.1).
        try:
            client.starttls(tls)
        except BaseException as exc:
            _discard(client)
            if type(exc) is imaplib.IMAP4.error:  # refused or not offered; not `abort`
                raise SourceTlsError(f"STARTTLS with {config.host} failed: {exc}") from exc
            raise
    return client


def _discard(client: imaplib.IMAP4) -> None:
    """Close the socket of a session that is of no use any more, whatever state it is in."""
    with contextlib.suppress(OSError):
        client.shutdown()


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
