"""One IMAP connection idling on a source's folder (IDLE, RFC 2177), through imap-tools.

`open_idle` opens the connection the way `ImapSource` does (the pinned, address-checked
client of `connector.net`, STARTTLS or implicit TLS, LOGIN, SASL PLAIN or XOAUTH2), checks the
`IDLE` capability as the server announces it after login, selects the folder and sends
`IDLE`. A server that does not announce IDLE must not be sent it (RFC 2177 §3): `NoIdle`
says so in words, and the source keeps being polled.

While idling no other command may be sent. `poll_ready` reads what the server sent without
blocking (imap-tools' `IdleManager.poll` with a zero timeout) and is called when the socket is
readable; `reissue` ends IDLE with `DONE`, reads up to the tagged OK and starts it again, which
RFC 2177 asks for at least every 29 minutes. Everything that goes wrong is a `SourceError`.
"""

from __future__ import annotations

import contextlib
import imaplib
import io
import socket
import ssl

from imap_tools.mailbox import BaseMailBox

from connector.sources import imap_wire as wire
from connector.sources.config import SourceConfig
from connector.sources.errors import SourceConfigError, SourceConnectionError
from connector.sources.imap import _discard, _open_client
from connector.sources.imap_session import guard_errors, login, select_folder

# Untagged responses that mean the folder has (or may have) new mail (RFC 3501 §7.3.1-2).
_NEW_MAIL = (b" EXISTS", b" RECENT")


class NoIdle(Exception):
    """The source cannot idle; the words say why (shown to the admin), and it is polled."""


class _GivenClient(BaseMailBox):
    """imap-tools' mailbox around a client we opened and logged in ourselves, so that the
    connection is the pinned one and IDLE is imap-tools' own."""

    def __init__(self, client: imaplib.IMAP4) -> None:
        self._given = client
        super().__init__()

    def _get_mailbox_client(self) -> imaplib.IMAP4:
        return self._given


def reports_new_mail(lines: list[bytes]) -> bool:
    """Whether untagged responses announce new mail (`* 12 EXISTS`, `* 1 RECENT`)."""
    return any(line.startswith(b"* ") and line.rstrip().endswith(_NEW_MAIL) for line in lines)


def says_bye(lines: list[bytes]) -> bool:
    """The server is closing the connection (RFC 3501 §7.1.5)."""
    return any(line.upper().startswith(b"* BYE") for line in lines)


class IdleSession:
    """One logged-in connection in the IDLE state on the source's folder."""

    def __init__(self, config: SourceConfig, client: imaplib.IMAP4) -> None:
        self._config = config
        self._client: imaplib.IMAP4 | None = client
        self._mailbox = _GivenClient(client)

    @property
    def socket(self) -> socket.socket:
        """What a selector waits on (the TLS socket itself when the connection is TLS)."""
        return self._live().sock

    def start(self) -> None:
        with guard_errors(self._config, "idle", self.discard):
            self._mailbox.idle.start()  # type: ignore[no-untyped-call]

    def poll_ready(self) -> list[bytes]:
        """The lines the server has sent, without blocking. Empty although the socket was
        readable: the peer most likely closed the connection (imap-tools reads an end of file
        as "nothing more"), which `reissue` then finds out for sure."""
        with guard_errors(self._config, "idle", self.discard):
            lines: list[bytes] = self._mailbox.idle.poll(timeout=0)
        return lines + self.drain()

    def drain(self) -> list[bytes]:
        """Whole lines already read from the socket into imaplib's buffer, which a selector
        cannot see: "+ idling" and "* 5 EXISTS" often come in one packet, and reading the
        first leaves the second there until the next thing the server sends."""
        client = self._live()
        lines: list[bytes] = []
        previous = client.sock.gettimeout()
        with guard_errors(self._config, "idle", self.discard):
            client.sock.settimeout(0)
            try:
                while _buffered(client):
                    line = client.readline()
                    if not line.endswith(b"\n"):
                        raise SourceConnectionError(f"{self._config.host} sent half a line")
                    lines.append(line.rstrip(b"\r\n"))
            finally:
                client.sock.settimeout(previous)
        return lines

    def reissue(self) -> list[bytes]:
        """`DONE`, the tagged OK, then `IDLE` again; the untagged lines sent in between."""
        client = self._live()
        with guard_errors(self._config, "idle", self.discard):
            _, lines = self._mailbox.idle.stop()  # type: ignore[no-untyped-call]
            # imaplib files every untagged response it reads for a command; nobody asks.
            client.untagged_responses.clear()
            self._mailbox.idle.start()  # type: ignore[no-untyped-call]
        return [line for line in lines if isinstance(line, bytes)] + self.drain()

    def close(self) -> None:
        """End IDLE and log out politely; a broken connection is just closed."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            self._mailbox.idle.stop()  # type: ignore[no-untyped-call]
            client.logout()
        except Exception:  # the connection is going away whatever it answers
            _discard(client)

    def discard(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _discard(client)

    def _live(self) -> imaplib.IMAP4:
        if self._client is None:
            raise SourceConnectionError(f"the idle connection to {self._config.host} is closed")
        return self._client


def _buffered(client: imaplib.IMAP4) -> bool:
    """Whether imaplib's buffer (or, its socket being non-blocking, the socket) holds data."""
    if not isinstance(client.file, io.BufferedReader):
        return False
    try:
        return bool(client.file.peek(1))
    except OSError:  # nothing to read now: BlockingIOError, or SSLWantReadError under TLS
        return False


def open_idle(config: SourceConfig, tls: ssl.SSLContext | None = None) -> IdleSession:
    """A connection idling on `config.folder`. Raises `NoIdle` when the server does not
    announce IDLE, and the source errors of `ImapSource.connect` otherwise. `tls`: a context
    of `client_context(config)` shared by many connections, to save ~0.8 MB each."""
    if config.protocol != "imap":
        raise SourceConfigError("protocol", f"only IMAP sources idle, not {config.protocol}")
    client: imaplib.IMAP4 | None = None

    def drop() -> None:
        if client is not None:
            _discard(client)

    with guard_errors(config, "connect", drop):
        client = _open_client(config, tls)
    try:
        with guard_errors(config, "login", drop):
            login(client, config)
            _, data = client.capability()
            capabilities = wire.response_text(data).upper().split()
            if "IDLE" not in capabilities:
                with contextlib.suppress(Exception):
                    client.logout()
                raise NoIdle(f"{config.host} does not announce IDLE (RFC 2177)")
            _, data = client.list('""', '""')
            server_name = wire.server_folder_name(config.folder, wire.parse_delimiter(data))
            select_folder(client, config.folder, server_name)
    except BaseException:
        drop()
        raise
    session = IdleSession(config, client)
    session.start()
    return session
