"""An IMAP session's plumbing: turning socket, TLS and imaplib errors into source errors,
logging in (LOGIN, SASL PLAIN, XOAUTH2), selecting a folder and reading its status."""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from connector.net.clients import NotSpeaking
from connector.net.hosts import HostRefused
from connector.sources import imap_wire as wire
from connector.sources.config import SourceConfig
from connector.sources.errors import (
    FolderNotFound,
    SourceAuthError,
    SourceConfigError,
    SourceConnectionError,
    SourceError,
    SourceTlsError,
)
from connector.sources.tls import describe_tls_error

_STATUS_ITEMS = re.compile(rb"\(([^()]*)\)\s*$")


@dataclass(frozen=True)
class Selected:
    """The folder in the SELECTED state, as SELECT described it (RFC 3501 §6.3.1)."""

    folder: str
    uidvalidity: int
    uidnext: int | None
    exists: int

    @property
    def last_uid(self) -> int:
        """No message has a UID above this one (UIDs are below UIDNEXT)."""
        return max((self.uidnext or 1) - 1, 0)


@dataclass(frozen=True)
class FolderStatus:
    messages: int
    unseen: int
    uidnext: int
    uidvalidity: int


@contextmanager
def guard_errors(config: SourceConfig, action: str, drop: Callable[[], None]) -> Iterator[None]:
    """Errors of the layers below, as source errors; a broken connection is dropped first so
    the next call knows to reconnect."""
    where = f"{config.host}:{config.port}"
    try:
        yield
    except SourceError:
        raise
    except HostRefused as exc:  # checked again at each connection (connector.net)
        drop()
        raise SourceConfigError("host", str(exc)) from None
    except NotSpeaking as exc:  # what the peer sent is not repeated
        drop()
        raise SourceConnectionError(f"{action}: {where}: {exc}") from None
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:  # a TLS session that ended
        drop()
        raise SourceConnectionError(f"{action}: {where} closed the connection") from exc
    except ssl.SSLError as exc:  # before OSError, of which it is a subclass
        drop()
        raise SourceTlsError(describe_tls_error(config.host, exc)) from exc
    except socket.gaierror as exc:
        drop()
        raise SourceConnectionError(f"cannot resolve {config.host}: {exc.strerror}") from exc
    except TimeoutError as exc:
        drop()
        raise SourceConnectionError(
            f"{action}: {where} did not answer within {config.timeout_seconds} s"
        ) from exc
    except (imaplib.IMAP4.abort, OSError, EOFError) as exc:
        # imaplib reports a server that went away (restart, BYE, reset) as `abort`.
        drop()
        raise SourceConnectionError(f"{action}: connection to {where} failed: {exc}") from exc
    except imaplib.IMAP4.error as exc:
        # A BAD answer or a state imaplib does not accept: the session cannot be trusted.
        drop()
        raise SourceConnectionError(f"{action}: {where} answered with an error: {exc}") from exc


def login(client: imaplib.IMAP4, config: SourceConfig) -> None:
    try:
        if config.access_token is not None:
            _authenticate_xoauth2(client, config)
        elif config.username.isascii() and (config.password or "").isascii():
            client.login(config.username, config.password or "")
        else:
            # LOGIN's strings are 7-bit in IMAP4rev1; SASL PLAIN carries UTF-8 (RFC 4616).
            plain = f"\0{config.username}\0{config.password}".encode()
            client.authenticate("PLAIN", lambda _challenge: plain)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:
        raise SourceAuthError(f"{config.host} refused the login", _error_text(exc)) from exc


class _XOAuth2:
    """SASL XOAUTH2 as Google and Microsoft define it: on failure the server sends a JSON
    error as a challenge and expects an empty reply before its tagged NO."""

    def __init__(self, username: str, token: str) -> None:
        self._initial = f"user={username}\x01auth=Bearer {token}\x01\x01".encode()
        self._sent = False
        self.error_detail = ""

    def __call__(self, challenge: bytes) -> bytes:
        if not self._sent:
            self._sent = True
            return self._initial
        self.error_detail = challenge.decode("utf-8", "replace")
        return b""


def _authenticate_xoauth2(client: imaplib.IMAP4, config: SourceConfig) -> None:
    assert config.access_token is not None
    try:
        token = config.access_token()
    except Exception as exc:  # whatever the OAuth layer raises, the admin must see it
        raise SourceAuthError("could not get an OAuth access token", str(exc)) from exc
    mechanism = _XOAuth2(config.username, token)
    try:
        client.authenticate("XOAUTH2", mechanism)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:
        words = " ".join(part for part in (_error_text(exc), mechanism.error_detail) if part)
        raise SourceAuthError(f"{config.host} refused the OAuth token", words) from exc


def select_folder(client: imaplib.IMAP4, folder: str, server_name: str) -> Selected:
    typ, data = client.select(wire.encode_mailbox(server_name))
    if typ != "OK":
        raise FolderNotFound(folder, wire.response_text(data))
    responses = client.untagged_responses
    uidvalidity = _last_int(responses.get("UIDVALIDITY"))
    if uidvalidity is None:
        raise SourceConnectionError(f"no UIDVALIDITY for {folder!r} (RFC 3501 §6.3.1 needs it)")
    exists = _last_int(responses.get("EXISTS")) or 0
    uidnext = _last_int(responses.get("UIDNEXT"))
    if uidnext is None and exists:
        # Some servers leave UIDNEXT out; the UID of the last message (`*`) says the same.
        typ, data = client.uid("SEARCH", "*")
        found = wire.parse_search(data) if typ == "OK" else []
        uidnext = found[-1] + 1 if found else None
    return Selected(folder, uidvalidity, uidnext, exists)


def read_folder_status(client: imaplib.IMAP4, folder: str, server_name: str) -> FolderStatus:
    typ, data = client.status(
        wire.encode_mailbox(server_name), "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"
    )
    if typ != "OK":
        raise FolderNotFound(folder, wire.response_text(data))
    # A folder name sent as a literal comes back as a tuple; the counts are in the last piece.
    line = b" ".join(part if isinstance(part, bytes) else part[-1] for part in data if part)
    match = _STATUS_ITEMS.search(line)
    words = match.group(1).split() if match else []
    values = {words[i].decode().upper(): int(words[i + 1]) for i in range(0, len(words) - 1, 2)}
    return FolderStatus(
        messages=values.get("MESSAGES", 0),
        unseen=values.get("UNSEEN", 0),
        uidnext=values.get("UIDNEXT", 0),
        uidvalidity=values.get("UIDVALIDITY", 0),
    )


def _last_int(values: list[Any] | None) -> int | None:
    for value in reversed(values or []):
        if isinstance(value, bytes) and value.strip().isdigit():
            return int(value)
    return None


def _error_text(exc: imaplib.IMAP4.error) -> str:
    """imaplib raises with the server's text, sometimes as bytes, sometimes wrapped."""
    value = exc.args[0] if exc.args else ""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if text.startswith(("b'", 'b"')) and text.endswith(("'", '"')):
        text = text[2:-1]
    return text.strip()
