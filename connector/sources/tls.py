"""TLS for mail servers: certificate and host-name checks on unless the admin turns them off.

Turning them off keeps the connection encrypted but no longer proves who is at the other end,
so a machine in between could read the password. It is allowed (self-hosted servers with
self-signed certificates are common) but never silently: the source carries a warning.
"""

from __future__ import annotations

import functools
import ssl

from connector.sources.config import SourceConfig


def client_context(config: SourceConfig) -> ssl.SSLContext:
    """The context for `ssl` and `starttls`: system trust store, host name checked.

    One per `verify_tls` for the life of the process, shared by every connection (the host
    name is given per connection): loading the system trust store takes some 25 ms of CPU,
    a third of what an idle poll cost when each connection built its own. Callers must not
    change it; `tls_context` makes one of their own."""
    return _shared_context(config.verify_tls)


@functools.cache
def _shared_context(verify_tls: bool) -> ssl.SSLContext:
    return tls_context(verify_tls=verify_tls)


def tls_context(*, verify_tls: bool) -> ssl.SSLContext:
    """A new context as `client_context` gives for this `verify_tls`: one context can serve
    many connections (the host name is given per connection)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connection_warnings(config: SourceConfig) -> tuple[str, ...]:
    if config.security == "none":
        return (
            f"{config.host}:{config.port} is used without encryption: the password and every "
            "message cross the network in clear text",
        )
    if not config.verify_tls:
        return (
            f"TLS certificate checks are off for {config.host}: the connection is encrypted "
            "but the server's identity is not verified",
        )
    return ()


def describe_tls_error(host: str, exc: ssl.SSLError) -> str:
    """The admin's version of an OpenSSL error: what is wrong with the certificate."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        hint = ""
        if exc.verify_code in (18, 19):  # X509_V_ERR_DEPTH_ZERO/SELF_SIGNED_CERT_IN_CHAIN
            hint = "; if this server is yours, turn certificate checks off for it"
        return f"the certificate of {host} is not trusted: {reason}{hint}"
    if exc.reason == "WRONG_VERSION_NUMBER":
        return (
            f"{host} did not answer with TLS on this port: it may expect plain text or "
            "STARTTLS there (try security starttls, or the implicit-TLS port)"
        )
    return f"TLS with {host} failed: {exc.reason or exc}"
