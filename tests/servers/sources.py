"""Mail-source configurations pointing at the test Dovecot, and the pipeline's loop in miniature."""

from __future__ import annotations

import socket
from email.parser import BytesHeaderParser
from typing import Any

from connector.mail_source import SourceSpec
from connector.sources.base import Cursor, MailSource
from connector.sources.config import SourceConfig
from tests.fakes.network import loopback_policy
from tests.servers.dovecot import Dovecot, MailUser

_PORTS = {
    ("imap", "ssl"): "imaps",
    ("imap", "starttls"): "imap",
    ("imap", "none"): "imap",
    ("pop3", "ssl"): "pop3s",
    ("pop3", "starttls"): "pop3",
    ("pop3", "none"): "pop3",
}


def dovecot_config(
    dovecot: Dovecot, user: MailUser, protocol: str = "imap", **settings: Any
) -> SourceConfig:
    """Implicit TLS with certificate checks off (the certificate is self-signed) unless the
    test says otherwise; the port follows the protocol and security. Loopback is allowed and
    names are answered by a `FakeNetwork`, as in the app under test."""
    settings.setdefault("security", "ssl")
    settings.setdefault("verify_tls", False)
    settings.setdefault("timeout_seconds", 5)
    if protocol == "pop3":
        settings.setdefault("after_processing", "delete")
    port = getattr(dovecot.ports, _PORTS[(protocol, settings["security"])])
    settings.setdefault("host", dovecot.host)
    settings.setdefault("port", port)
    settings.setdefault("password", user.password)
    settings.setdefault("host_policy", loopback_policy())
    return SourceConfig(protocol=protocol, username=user.name, **settings)  # type: ignore[arg-type]


def dovecot_spec(dovecot: Dovecot, user: MailUser, **settings: Any) -> SourceSpec:
    """A mail source as an admin would save it for this Dovecot user: IMAP over implicit TLS
    (self-signed, so unverified), into SUP as Tasks, unless the test says otherwise."""
    settings.setdefault("name", "Support inbox")
    settings.setdefault("project_key", "SUP")
    settings.setdefault("issue_type", "Task")
    settings.setdefault("timeout_seconds", 5)
    return SourceSpec(
        protocol="imap",
        host=dovecot.host,
        port=dovecot.ports.imaps,
        security="ssl",
        verify_tls=False,
        username=user.name,
        password=user.password,
        **settings,
    )


def process_all(
    source: MailSource, cursor: Cursor, *, success: bool = True
) -> tuple[list[bytes], Cursor]:
    """What the pipeline does: list, fetch, (record,) mark done, then advance the cursor."""
    listing = source.list_new(cursor)
    cursor = listing.cursor
    fetched = []
    for ref in listing.refs:
        fetched.append(source.fetch(ref))
        source.mark_done(ref, success=success)
        cursor = cursor.advanced(ref)
    return fetched, cursor


def message_id(raw: bytes) -> str:
    return str(BytesHeaderParser().parsebytes(raw)["Message-ID"])


def broken_config(dovecot: Dovecot, user: MailUser, case: str) -> SourceConfig:
    """A configuration that fails in one known way, for the diagnosis tests."""
    if case == "unknown host":
        return dovecot_config(dovecot, user, host="mail.connector-test.invalid")
    if case == "closed port":
        with socket.socket() as sock:  # a port that was free a moment ago
            sock.bind((dovecot.host, 0))
            port = sock.getsockname()[1]
        return dovecot_config(dovecot, user, port=port)
    if case == "bad certificate":
        return dovecot_config(dovecot, user, verify_tls=True)
    if case == "bad password":
        return dovecot_config(dovecot, user, password="not-the-password")
    return dovecot_config(dovecot, user, folder="Does/Not/Exist")
