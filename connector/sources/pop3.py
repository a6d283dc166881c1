"""POP3 mailboxes (RFC 1939) through poplib: one inbox, tracked by UIDL.

POP3 has no flags and no folders, so the position is the set of UIDLs already processed
(RFC 1939 §7: a UIDL is unique in the maildrop and persists across sessions). Message numbers
are valid for one session only and never leave this module. The only post-action is DELE,
which the server carries out when the session ends with QUIT (RFC 1939 §6); a session that
breaks before QUIT deletes nothing, and the UIDL in the cursor keeps the message from being
processed twice.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import poplib
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

from connector import logs
from connector.net.clients import NotSpeaking, PinnedPOP3, Route
from connector.net.hosts import HostRefused
from connector.sources.base import Cursor, Listing, MessageRef, Pop3Cursor, SourceSession
from connector.sources.config import DEFAULT_FOLDER, SourceConfig
from connector.sources.errors import (
    MessageVanished,
    SourceAuthError,
    SourceConfigError,
    SourceConnectionError,
    SourceError,
    SourceTlsError,
)
from connector.sources.tls import client_context, connection_warnings, describe_tls_error

log = logging.getLogger(__name__)

# poplib refuses lines over 2048 octets. RFC 5322 §2.1.1 caps lines at 998, but mail that
# breaks the rule exists and must not block a mailbox; a megabyte still bounds memory.
poplib._MAXLINE = max(poplib._MAXLINE, 1024 * 1024)  # type: ignore[attr-defined]


class Pop3Source(SourceSession):
    """The inbox of one POP3 account behind the `MailSource` Protocol."""

    def __init__(self, config: SourceConfig) -> None:
        if config.protocol != "pop3":
            raise SourceConfigError("protocol", f"Pop3Source reads POP3, not {config.protocol}")
        super().__init__(config, connection_warnings(config))
        self._client: poplib.POP3 | None = None
        self._numbers: dict[str, int] = {}  # UIDL -> message number, for this session only

    def connect(self) -> None:
        self.close()
        config = self._config
        with self._guard("connect"):
            self._client = _open_client(config)
        try:
            self._login(self._client)
        except SourceAuthError as exc:
            self._drop()
            self._log_auth_failed(exc)
            raise
        self._log_connected()

    def close(self) -> None:
        """QUIT, which is when the server carries out the DELEs of this session."""
        client, self._client = self._client, None
        self._numbers = {}
        if client is None:
            return
        try:
            client.quit()
        except (poplib.error_proto, OSError) as exc:
            logs.event(
                log, "source.quit_failed", logging.WARNING, source=self._config.label, error=exc
            )
            _discard(client)

    def baseline(self, since: datetime | None = None) -> Pop3Cursor:
        """Everything on the server counts as seen, except, with `since`, what arrived since."""
        listing = self._listing()
        if since is None:
            return Pop3Cursor(frozenset(uidl for uidl, _ in listing.values()))
        recent = set(self._uidls_since(since))
        return Pop3Cursor(frozenset(uidl for uidl, _ in listing.values() if uidl not in recent))

    def estimate_backlog(self, since: datetime) -> int:
        # POP3 cannot search: this reads each message's headers (TOP n 0), so it is slow on a
        # big maildrop; it runs only when an admin asks.
        return len(self._uidls_since(since))

    def list_new(self, cursor: Cursor, limit: int = 500) -> Listing:
        if not isinstance(cursor, Pop3Cursor):
            raise TypeError(f"a POP3 source needs a Pop3Cursor, not {type(cursor).__name__}")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        listing = self._listing()
        present = {uidl for uidl, _ in listing.values()}
        new = [
            MessageRef(uidl, size, DEFAULT_FOLDER)
            for _, (uidl, size) in sorted(listing.items())
            if uidl not in cursor.seen_uidls
        ]
        # UIDLs of messages gone from the server will never come back: forget them.
        pruned = Pop3Cursor(cursor.seen_uidls & present)
        logs.event(
            log,
            "source.polled",
            logging.INFO if new else logging.DEBUG,
            source=self._config.label,
            new=len(new),
            more=len(new) > limit,
            forgotten=len(cursor.seen_uidls) - len(pruned.seen_uidls),
        )
        return Listing(tuple(new[:limit]), pruned, False, len(new) > limit, self._warnings)

    def fetch(self, ref: MessageRef) -> bytes:
        # The size came from LIST: RETR is never sent for an oversize message.
        self._refuse_oversize(ref)
        number = self._number(ref)
        with self._guard("fetch"):
            _, lines, _ = self._session().retr(number)
        # poplib has already undone the dot-stuffing (RFC 1939 §3).
        return b"\r\n".join(lines) + b"\r\n"

    def fetch_message_ids(self, refs: Sequence[MessageRef]) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for ref in refs:
            try:
                headers = self._headers(self._number(ref))
            except MessageVanished:
                found[ref.uid] = None
                continue
            found[ref.uid] = headers.get("Message-ID", "").strip() or None
        return found

    def mark_done(self, ref: MessageRef, success: bool) -> None:
        """Success: DELE (carried out at QUIT). Failure: the message stays on the server,
        where an admin can find it; its UIDL in the cursor keeps it from being read again."""
        if success:
            number = self._number(ref)
            with self._guard("delete"):
                self._session().dele(number)
        logs.event(
            log,
            "source.marked_done",
            source=self._config.label,
            uid=ref.uid,
            success=success,
            action="delete" if success else "none",
        )

    # -- internals ----------------------------------------------------------------------------

    def _session(self) -> poplib.POP3:
        if self._client is None:
            raise SourceConnectionError(f"not connected to {self._config.host}; call connect()")
        return self._client

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._numbers = {}
        if client is not None:
            _discard(client)

    def _login(self, client: poplib.POP3) -> None:
        config = self._config
        try:
            if config.access_token is not None:
                try:
                    token = config.access_token()
                except Exception as exc:  # whatever the OAuth layer raises, show it
                    raise SourceAuthError("could not get an OAuth access token", str(exc)) from exc
                initial = f"user={config.username}\x01auth=Bearer {token}\x01\x01".encode()
                # SASL over POP3 (RFC 5034): AUTH, a "+" challenge, then the base64 response.
                # poplib has no public AUTH; _shortcmd is its send-and-check-reply primitive.
                client._shortcmd("AUTH XOAUTH2")  # type: ignore[attr-defined]
                client._shortcmd(  # type: ignore[attr-defined]
                    base64.b64encode(initial).decode("ascii")
                )
            else:
                client.user(config.username)
                client.pass_(config.password or "")
        except poplib.error_proto as exc:
            words = _words(exc)
            if words.startswith(("[IN-USE]", "[SYS/TEMP]")):
                # Response codes IN-USE (RFC 2449) and SYS/TEMP (RFC 3206): the maildrop is
                # busy or the server has a passing fault; the credentials are fine.
                self._drop()
                raise SourceConnectionError(
                    f"{config.host} cannot open the mailbox now: {words}"
                ) from exc
            raise SourceAuthError(f"{config.host} refused the login", words) from exc
        except (OSError, EOFError) as exc:
            self._drop()
            raise SourceConnectionError(f"login: {config.host} went away: {exc}") from exc

    def _listing(self) -> dict[int, tuple[str, int]]:
        """Message number -> (UIDL, size), from one UIDL and one LIST."""
        with self._guard("list"):
            session = self._session()
            _, uidl_lines, _ = session.uidl()
            _, size_lines, _ = session.list()
        uidls = dict(_pairs(uidl_lines))
        sizes = {number: int(size) for number, size in _pairs(size_lines) if size.isdigit()}
        self._numbers = {uidl: number for number, uidl in uidls.items()}
        return {number: (uidl, sizes.get(number, 0)) for number, uidl in uidls.items()}

    def _number(self, ref: MessageRef) -> int:
        if ref.uidvalidity is not None:
            raise TypeError(f"{ref!r} is not a POP3 message")
        if ref.uid not in self._numbers:
            self._listing()  # a new session numbers messages afresh
        if ref.uid not in self._numbers:
            raise MessageVanished(ref)
        return self._numbers[ref.uid]

    def _headers(self, number: int) -> dict[str, str]:
        with self._guard("top"):
            _, lines, _ = self._session().top(number, 0)
        message = BytesHeaderParser().parsebytes(b"\r\n".join(lines))
        return {key: str(value) for key, value in message.items()}

    def _uidls_since(self, since: datetime) -> list[str]:
        moment = since if since.tzinfo else since.replace(tzinfo=UTC)
        recent = []
        for number, (uidl, _) in sorted(self._listing().items()):
            try:
                sent = parsedate_to_datetime(self._headers(number).get("Date", ""))
            except (TypeError, ValueError):
                continue  # no usable Date: counted as old rather than flooding the project
            if (sent if sent.tzinfo else sent.replace(tzinfo=UTC)) >= moment:
                recent.append(uidl)
        return recent

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        config = self._config
        where = f"{config.host}:{config.port}"
        try:
            yield
        except SourceError:
            raise
        except HostRefused as exc:  # checked again at each connection (connector.net)
            self._drop()
            raise SourceConfigError("host", str(exc)) from None
        except NotSpeaking as exc:  # what the peer sent is not repeated
            self._drop()
            raise SourceConnectionError(f"{action}: {where}: {exc}") from None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            self._drop()
            raise SourceConnectionError(f"{action}: {where} closed the connection") from exc
        except ssl.SSLError as exc:
            self._drop()
            raise SourceTlsError(describe_tls_error(config.host, exc)) from exc
        except socket.gaierror as exc:
            self._drop()
            raise SourceConnectionError(f"cannot resolve {config.host}: {exc.strerror}") from exc
        except TimeoutError as exc:
            self._drop()
            raise SourceConnectionError(
                f"{action}: {where} did not answer within {config.timeout_seconds} s"
            ) from exc
        except (OSError, EOFError, poplib.error_proto) as exc:
            # "-ERR EOF" is poplib's word for a server that went away mid-session.
            self._drop()
            raise SourceConnectionError(f"{action}: {where} failed: {_words(exc)}") from exc


def _open_client(config: SourceConfig) -> poplib.POP3:
    """A greeted session to an address `config.host_policy` allows (`connector.net`)."""
    timeout = float(config.timeout_seconds)
    route = Route(config.host_policy, client_context(config) if config.security == "ssl" else None)
    client = PinnedPOP3(config.host, config.port, route=route, timeout=timeout)
    if config.security == "starttls":
        try:
            # poplib refuses when STLS is not in CAPA rather than going on in clear text
            # (RFC 2595 §4 STLS; a stripped capability is the classic downgrade).
            client.stls(context=client_context(config))
        except poplib.error_proto as exc:
            _discard(client)
            raise SourceTlsError(f"STLS with {config.host} failed: {_words(exc)}") from exc
        except BaseException:
            _discard(client)
            raise
    return client


def _pairs(lines: list[bytes]) -> Iterator[tuple[int, str]]:
    for line in lines:
        number, _, value = line.decode("ascii", "replace").strip().partition(" ")
        if number.isdigit() and value:
            yield int(number), value.strip()


def _discard(client: poplib.POP3) -> None:
    """Close a session that is of no use any more, whatever state its socket is in."""
    with contextlib.suppress(OSError):
        client.close()


def _words(exc: BaseException) -> str:
    """The server's reply from a poplib error (b'-ERR [AUTH] ...'), else the error itself."""
    if not isinstance(exc, poplib.error_proto):
        return str(exc)
    value = exc.args[0] if exc.args else str(exc)
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text.removeprefix("-ERR").strip()
