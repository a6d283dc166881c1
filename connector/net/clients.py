"""imaplib, poplib and smtplib clients whose TCP connection is `HostPolicy.connect`'s.

Each library opens its socket in one overridable method (`_create_socket`, `_get_socket`);
these classes open it to an address the policy checked and then wrap it in TLS with the host
*name* as SNI and for certificate verification, exactly as the library's own `*_SSL` class
does. STARTTLS is the library's own and also uses the name.

They also refuse to repeat what a peer sent when it did not greet as the protocol expects: a
connection test pointed at some other service must not hand that service's banner back to the
caller. A peer that greets properly and then refuses (an IMAP `* BYE`, a POP3 `-ERR`, SMTP 421
or 554) is a mail server, and its words are kept.
"""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import smtplib
import socket
import ssl
from dataclasses import dataclass

from connector.net.hosts import HostPolicy

# RFC 3501 §7.1: a server greets with an untagged OK, PREAUTH or BYE.
_IMAP_GREETINGS = (b"* OK", b"* PREAUTH", b"* BYE")
# RFC 5321 §3.1 and §4.2.5: 220 is ready, 554 and 421 refuse the session.
_SMTP_REFUSALS = (421, 554)


class NotSpeaking(Exception):
    """The peer answered, but not as a `protocol` server; what it sent is not kept."""

    def __init__(self, protocol: str) -> None:
        article = "a" if protocol == "POP3" else "an"
        super().__init__(f"the server did not answer as {article} {protocol} server")
        self.protocol = protocol


@dataclass(frozen=True)
class Route:
    """How a client reaches its server: through `policy`, then TLS with `tls` when the port
    speaks TLS from the start (implicit TLS); None for plain text or STARTTLS."""

    policy: HostPolicy
    tls: ssl.SSLContext | None = None

    def open(self, host: str, port: int, timeout: float | None) -> socket.socket:
        sock = self.policy.connect(host, port, timeout)
        if self.tls is None:
            return sock
        try:
            return self.tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise


class PinnedIMAP4(imaplib.IMAP4):
    """`imaplib.IMAP4`, or `IMAP4_SSL` when the route has TLS."""

    def __init__(self, host: str, port: int, *, route: Route, timeout: float | None) -> None:
        self._route = route
        try:
            super().__init__(host, port, timeout)
        except imaplib.IMAP4.error:
            # imaplib has closed the socket; keep its words only after a real greeting.
            if getattr(self, "welcome", b"").upper().startswith(_IMAP_GREETINGS):
                raise
            raise NotSpeaking("IMAP") from None

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return self._route.open(self.host, self.port, timeout)


class PinnedPOP3(poplib.POP3):
    """`poplib.POP3`, or `POP3_SSL` when the route has TLS."""

    def __init__(self, host: str, port: int, *, route: Route, timeout: float) -> None:
        self._route = route
        try:
            super().__init__(host, port, timeout)
        except poplib.error_proto as exc:
            # poplib does not close the socket when the greeting is refused.
            with contextlib.suppress(OSError, AttributeError):
                self.close()
            said = exc.args[0] if exc.args else b""
            if isinstance(said, bytes) and said.upper().startswith(b"-ERR"):
                raise  # RFC 1939 §3: a POP3 server that refuses the session
            raise NotSpeaking("POP3") from None

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return self._route.open(self.host, self.port, timeout)


class PinnedSMTP(smtplib.SMTP):
    """`smtplib.SMTP`, or `SMTP_SSL` when the route has TLS."""

    def __init__(self, host: str, port: int, *, route: Route, timeout: float) -> None:
        self._route = route
        try:
            super().__init__(host, port, timeout=timeout)
        except smtplib.SMTPConnectError as exc:
            # smtplib has closed the socket. A greeting that is no reply code is -1.
            if exc.smtp_code in _SMTP_REFUSALS:
                raise
            raise NotSpeaking("SMTP") from None

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._route.open(host, port, timeout)
