"""Sending over SMTP (smtplib): implicit TLS or STARTTLS, a password or OAuth2 (XOAUTH2).

XOAUTH2 is the SASL mechanism Gmail and Microsoft 365 take for OAuth tokens
("Authenticate an IMAP, POP or SMTP connection using OAuth", Microsoft Learn; Google's
"OAuth 2.0 Mechanism"): `user=<account>^Aauth=Bearer <token>^A^A`, base64. A server's 4xx
answer is temporary (RFC 5321 §4.2.1) and retried; a 5xx answer and a refused sign-in are not.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from connector.net.clients import NotSpeaking, PinnedSMTP, Route
from connector.net.hosts import PUBLIC_ONLY, HostPolicy, HostRefused
from connector.outbound.delivery import SendError, Steps


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # ssl | starttls | none
    verify_tls: bool = True
    username: str = ""
    password: str | None = field(default=None, repr=False)
    access_token: Callable[[], str] | None = field(default=None, repr=False)
    timeout_seconds: int = 30
    # Which addresses the connection may go to (`connector.net`); the app passes its own.
    host_policy: HostPolicy = field(default=PUBLIC_ONLY, repr=False, compare=False)


def xoauth2_string(username: str, token: str) -> str:
    return f"user={username}\x01auth=Bearer {token}\x01\x01"


class SmtpSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    def send(self, message: EmailMessage, steps: Steps | None = None) -> None:
        steps = steps or Steps()
        s = self._settings
        context = ssl.create_default_context()
        if not s.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        with steps.step("connect", f"{s.host}:{s.port} ({s.security})"):
            client = self._connect(context)
        try:
            if s.security == "starttls":
                with steps.step("tls", "STARTTLS"):
                    self._starttls(client, context)
            if s.password is not None or s.access_token is not None:
                with steps.step("authenticate", f"as {s.username}"):
                    self._login(client)
            recipients = [a for h in ("To", "Cc", "Bcc") for a in message.get_all(h) or []]
            with steps.step("send", f"to {len(recipients)} recipient(s)"):
                self._send(client, message)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    def _connect(self, context: ssl.SSLContext) -> smtplib.SMTP:
        s = self._settings
        try:
            route = Route(s.host_policy, context if s.security == "ssl" else None)
            return PinnedSMTP(s.host, s.port, route=route, timeout=s.timeout_seconds)
        except HostRefused as exc:
            raise SendError(str(exc), retryable=False, step="connect") from None
        except NotSpeaking as exc:  # what the peer sent is not repeated
            raise SendError(f"{s.host}:{s.port}: {exc}", retryable=False, step="connect") from None
        except ssl.SSLError as exc:
            raise SendError(
                f"TLS failed: {exc.reason or exc}", retryable=False, step="connect"
            ) from None
        except socket.gaierror as exc:
            raise SendError(f"unknown host: {exc}", retryable=True, step="connect") from None
        except ValueError as exc:
            # The resolver IDNA-encodes the name first: an empty label (`smtp..example.com`)
            # or one over 63 characters raises UnicodeError (a ValueError), which no retry
            # can fix; the admin must correct the host.
            raise SendError(
                f"the server name {s.host!r} is not valid: {exc}", retryable=False, step="connect"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(_describe(exc), retryable=True, step="connect") from None

    def _starttls(self, client: smtplib.SMTP, context: ssl.SSLContext) -> None:
        try:
            client.ehlo()
            if not client.has_extn("starttls"):
                raise SendError("the server does not offer STARTTLS", retryable=False, step="tls")
            client.starttls(context=context)
            client.ehlo()
        except ssl.SSLError as exc:
            raise SendError(
                f"TLS failed: {exc.reason or exc}", retryable=False, step="tls"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(_describe(exc), retryable=True, step="tls") from None

    def _login(self, client: smtplib.SMTP) -> None:
        s = self._settings
        try:
            client.ehlo_or_helo_if_needed()
            if s.access_token is not None:
                token = s.access_token()
                initial = xoauth2_string(s.username, token)
                # A refusal comes as a 334 challenge carrying JSON; an empty answer ends it.
                client.auth("XOAUTH2", lambda challenge=None: "" if challenge else initial)
            else:
                client.login(s.username, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(
                f"sign-in refused: {exc.smtp_code} {_text(exc.smtp_error)}",
                retryable=False,
                step="authenticate",
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise SendError(
                "the server offers no sign-in (AUTH) on this connection; try STARTTLS or SSL",
                retryable=False,
                step="authenticate",
            ) from None
        except SendError:
            raise
        except Exception as exc:  # token renewal errors carry the provider's words
            raise SendError(
                _describe(exc), retryable=_temporary(exc), step="authenticate"
            ) from None

    def _send(self, client: smtplib.SMTP, message: EmailMessage) -> None:
        try:
            refused = client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            words = "; ".join(_text(answer) for _, answer in exc.recipients.values())
            raise SendError(
                f"recipient refused: {codes[0] if codes else ''} {words}".strip(),
                retryable=all(400 <= c < 500 for c in codes),
                step="send",
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise SendError(
                f"refused: {exc.smtp_code} {_text(exc.smtp_error)}",
                retryable=400 <= exc.smtp_code < 500,
                step="send",
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(_describe(exc), retryable=True, step="send") from None
        if refused:
            raise SendError(f"refused {len(refused)} recipient(s)", retryable=False, step="send")


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return str(exc) or type(exc).__name__


def _temporary(exc: BaseException) -> bool:
    return isinstance(exc, OSError | smtplib.SMTPServerDisconnected)
