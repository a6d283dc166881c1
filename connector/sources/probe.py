"""Network checks below the mail protocol, for a diagnosis: name resolution, TCP, and TLS with
what the certificate says about itself (subject, issuer, expiry, names) and what is wrong with
it. Uses only the standard library and `cryptography`; nothing here logs in."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from connector.net.clients import NotSpeaking
from connector.net.hosts import HostRefused
from connector.sources.config import SourceConfig
from connector.sources.errors import SourceConfigError, SourceConnectionError, SourceTlsError
from connector.sources.tls import describe_tls_error, tls_context

_IMAP_OK = (b"* OK", b"* PREAUTH")
_GREETING_LIMIT = 8192  # a line; a service that never sends a newline is not read forever


@dataclass(frozen=True)
class CertificateInfo:
    subject: str
    issuer: str
    not_after: datetime
    names: tuple[str, ...]

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer

    @property
    def expired(self) -> bool:
        return self.not_after < datetime.now(UTC)


@dataclass(frozen=True)
class TlsReport:
    version: str
    certificate: CertificateInfo | None
    problem: str | None  # why the certificate is not trusted; None when it is


def resolve(config: SourceConfig) -> list[str]:
    """The host's addresses, each one checked against `config.host_policy`."""
    try:
        return list(config.host_policy.addresses(config.host, config.port))
    except socket.gaierror as exc:
        raise SourceConnectionError(f"cannot resolve {config.host}: {exc.strerror}") from exc
    except HostRefused as exc:
        raise SourceConfigError("host", str(exc)) from None


def connect_tcp(config: SourceConfig, address: str) -> socket.socket:
    """A connection to `address`, which `resolve` checked."""
    network = config.host_policy.network
    try:
        return network.dial(address, config.port, config.timeout_seconds)
    except TimeoutError as exc:
        raise SourceConnectionError(
            f"{address} port {config.port} did not answer within {config.timeout_seconds} s"
        ) from exc
    except OSError as exc:
        raise SourceConnectionError(f"{address} port {config.port}: {exc.strerror or exc}") from exc


def probe_tls(config: SourceConfig, address: str) -> TlsReport:
    """Handshake once accepting any certificate, to read it, and once as the source would
    (trust store and host name), to learn whether and why it would be refused."""
    unchecked = ssl.create_default_context()
    unchecked.check_hostname = False
    unchecked.verify_mode = ssl.CERT_NONE
    try:
        with _tls_socket(config, address, unchecked) as tls:
            version = tls.version() or "unknown"
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLError as exc:  # e.g. TLS spoken to a plain-text port
        raise SourceTlsError(describe_tls_error(config.host, exc)) from exc
    certificate = describe_certificate(der) if der else None
    checked = tls_context(verify_tls=True)  # whatever the source says: would it verify?
    problem: str | None = None
    try:
        with _tls_socket(config, address, checked):
            pass
    except ssl.SSLCertVerificationError as exc:
        problem = exc.verify_message or str(exc)
    return TlsReport(version=version, certificate=certificate, problem=problem)


def describe_certificate(der: bytes) -> CertificateInfo:
    certificate = x509.load_der_x509_certificate(der)
    names: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        extension = certificate.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME
        )
        alternative = extension.value
        assert isinstance(alternative, x509.SubjectAlternativeName)
        names += alternative.get_values_for_type(x509.DNSName)
        names += [str(ip) for ip in alternative.get_values_for_type(x509.IPAddress)]
    return CertificateInfo(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        not_after=certificate.not_valid_after_utc,
        names=tuple(names),
    )


@contextlib.contextmanager
def _tls_socket(
    config: SourceConfig, address: str, context: ssl.SSLContext
) -> Iterator[ssl.SSLSocket]:
    sock = connect_tcp(config, address)
    try:
        if config.security == "starttls":
            _starttls(sock, config)
        tls = context.wrap_socket(sock, server_hostname=config.host)
    except BaseException:
        sock.close()
        raise
    try:
        yield tls
    finally:
        tls.close()


def _starttls(sock: socket.socket, config: SourceConfig) -> None:
    """Ask for TLS on a plain connection the way the protocol does it: IMAP STARTTLS
    (RFC 3501 §6.2.1), POP3 STLS (RFC 2595 §4)."""
    imap = config.protocol == "imap"
    reader = sock.makefile("rb")
    try:
        greeting = reader.readline(_GREETING_LIMIT)
        # RFC 3501 §7.1 and RFC 1939 §4: anything else is another service, whose words are
        # not repeated to the caller.
        if not greeting.upper().startswith(_IMAP_OK if imap else (b"+OK",)):
            wrong = NotSpeaking("IMAP" if imap else "POP3")
            raise SourceConnectionError(f"{config.host}:{config.port}: {wrong}")
        sock.sendall(b"d1 STARTTLS\r\n" if imap else b"STLS\r\n")
        reply = reader.readline(_GREETING_LIMIT)
        while imap and reply.startswith(b"* "):  # untagged lines before the tagged answer
            reply = reader.readline(_GREETING_LIMIT)
    except OSError as exc:
        raise SourceConnectionError(f"{config.host} went away during STARTTLS: {exc}") from exc
    finally:
        reader.close()
    if not reply.startswith(b"d1 OK" if imap else b"+OK"):
        answer = reply.decode("utf-8", "replace").strip() or "no answer"
        raise SourceTlsError(f"{config.host} does not offer STARTTLS: {answer}")
