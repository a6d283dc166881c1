"""aiosmtpd on loopback: a real SMTP server that keeps what it receives, for outbound tests.

One server per test (ports picked at runtime), with a throw-away certificate: STARTTLS on the
plain port (required before AUTH), and AUTH PLAIN/LOGIN with a password or XOAUTH2 with a
token. `refuse_next(code)` answers the next DATA with that code, to test retries.
"""

from __future__ import annotations

import base64
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from connector.outbound.smtp import SmtpSettings
from connector.outbound_config import ConnectionSpec
from tests.fakes.network import loopback_policy
from tests.servers.certs import write_self_signed
from tests.servers.processes import free_ports

__all__ = [
    "Delivered",
    "SmtpServer",
    "running_smtp",
    "sample_message",
    "sender_settings",
    "smtp_server",
]

USERNAME = "notify@support.example"
PASSWORD = "smtp-Passw0rd"
TOKEN = "ya29.test-access-token"


@dataclass(frozen=True)
class Delivered:
    mail_from: str
    recipients: tuple[str, ...]
    raw: bytes
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    delivered: list[Delivered] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.refusals:
                return self.refusals.pop(0)
            login = session.auth_data
            content = envelope.original_content or envelope.content or b""
            self.delivered.append(
                Delivered(
                    mail_from=str(envelope.mail_from),
                    recipients=tuple(envelope.rcpt_tos),
                    raw=content if isinstance(content, bytes) else content.encode(),
                    login=login.decode() if isinstance(login, bytes) else login,
                )
            )
        return "250 OK"

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        try:
            decoded = base64.b64decode(args[1]).decode()
        except (IndexError, ValueError):
            return AuthResult(success=False, handled=False)
        fields = dict(part.split("=", 1) for part in decoded.split("\x01") if "=" in part)
        ok = fields.get("user") == USERNAME and fields.get("auth") == f"Bearer {TOKEN}"
        return AuthResult(success=ok, handled=False, auth_data=USERNAME if ok else None)


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    if isinstance(auth_data, LoginPassword):
        ok = auth_data.login == USERNAME.encode() and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)
    return AuthResult(success=False, handled=False)


class SmtpServer:
    host = "127.0.0.1"
    username = USERNAME
    password = PASSWORD
    token = TOKEN

    def __init__(self, root: Path) -> None:
        certificate = write_self_signed(root)
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(certificate.cert_path, certificate.key_path)
        self._handler = _Handler()
        self.port, self.ssl_port = free_ports(2)
        common: dict[str, Any] = {
            "hostname": self.host,
            "authenticator": _authenticate,
            "auth_require_tls": True,
            "server_hostname": "localhost",
        }
        self._plain = Controller(self._handler, port=self.port, tls_context=self._tls, **common)
        # Implicit TLS: the whole session is encrypted, which aiosmtpd's TLS check cannot see.
        self._implicit = Controller(
            self._handler,
            port=self.ssl_port,
            ssl_context=self._tls,
            **{**common, "auth_require_tls": False},
        )

    def start(self) -> None:
        self._plain.start()
        self._implicit.start()

    def stop(self) -> None:
        self._plain.stop()
        self._implicit.stop()

    @property
    def delivered(self) -> list[Delivered]:
        with self._handler.lock:
            return list(self._handler.delivered)

    def refuse_next(self, answer: str, times: int = 1) -> None:
        with self._handler.lock:
            self._handler.refusals.extend([answer] * times)


@contextmanager
def running_smtp(root: Path) -> Iterator[SmtpServer]:
    """A server of its own (certificate under `root`, made here), stopped on the way out."""
    root.mkdir()
    server = SmtpServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    with running_smtp(tmp_path / "smtp") as server:
        yield server


def sample_message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "notify@support.example"
    message["To"] = "jo@customer.example"
    message["Subject"] = "hello"
    message.set_content("body")
    return message


def sender_settings(server: SmtpServer, **changes: Any) -> SmtpSettings:
    """`connector.outbound.smtp` settings for `server`: STARTTLS with checks off (the
    certificate is self-signed), the password, loopback allowed; `changes` override."""
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "security": "starttls",
        "verify_tls": False,
        "username": server.username,
        "password": server.password,
        "timeout_seconds": 5,
        "host_policy": loopback_policy(),
    }
    return SmtpSettings(**(values | changes))


def support_connection(server: SmtpServer) -> ConnectionSpec:
    """The outbound connection a support team would save for this server: STARTTLS with its
    self-signed certificate (unverified), sending as support@ and answered at help@."""
    return ConnectionSpec(
        host=server.host,
        port=server.port,
        security="starttls",
        verify_tls=False,
        username=server.username,
        from_address="support@support.example",
        from_name="Example Support",
        reply_to="help@support.example",
        timeout_seconds=5,
    )
