"""The tenant's way out, built from what is stored: SMTP or Graph, password or OAuth tokens.

OAuth reuses a mail source's sign-in (`connector.oauth_store.token_provider`), so the mailbox
that receives the customers' mail also sends the answers, with tokens renewed and stored the
same way the poller renews them. The token must allow sending: Google's mail scope does;
Microsoft needs SMTP.Send (SMTP) or Mail.Send (Graph) consented for the app.
"""

from __future__ import annotations

from collections.abc import Callable

from connector.oauth_store import token_provider
from connector.outbound.config import ConnectionSpec
from connector.outbound.delivery import MailSender, SendError
from connector.outbound.graph_send import GraphSender
from connector.outbound.smtp import SmtpSender, SmtpSettings
from connector.runtime import Runtime
from connector.sources.errors import SourceError
from connector.storage.outbound import OutboundRepository


class NotConfigured(SendError):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, step="configure")


def build_sender(
    runtime: Runtime,
    tenant_id: int,
    spec: ConnectionSpec,
    *,
    password: str | None = None,
) -> MailSender:
    """A sender for `spec`; `password` overrides the stored one (a test before saving)."""
    if spec.auth == "password" and password is None:
        password = OutboundRepository(runtime.engine, runtime.secrets).password(tenant_id)
        if password is None:
            raise NotConfigured("no password is stored for the outbound connection")
    token = _token(runtime, tenant_id, spec) if spec.auth == "oauth" else None
    if spec.transport == "graph":
        if token is None:
            raise NotConfigured("Graph sendMail needs a mail source's OAuth sign-in")
        mailbox = spec.username or spec.from_address
        return GraphSender(mailbox, token, timeout_seconds=spec.timeout_seconds)
    return SmtpSender(
        SmtpSettings(
            host=spec.host,
            port=spec.port,
            security=spec.security,
            verify_tls=spec.verify_tls,
            username=spec.username or spec.from_address,
            password=password if spec.auth == "password" else None,
            access_token=token,
            timeout_seconds=spec.timeout_seconds,
        )
    )


def _token(runtime: Runtime, tenant_id: int, spec: ConnectionSpec) -> Callable[[], str]:
    source = runtime.sources.find(spec.source_id) if spec.source_id is not None else None
    if source is None or source.tenant_id != tenant_id:
        raise NotConfigured(f"mail source {spec.source_id} does not exist")
    if not source.spec.uses_oauth:
        raise NotConfigured(f"mail source {source.spec.name!r} does not sign in with OAuth")
    try:
        return token_provider(runtime.sources, source)
    except SourceError as exc:
        raise NotConfigured(f"the source's OAuth sign-in cannot be used: {exc}") from None
