"""The tenant's way out, built from what is stored: SMTP or Graph, password or OAuth tokens.

OAuth reuses a mail source's sign-in (`connector.oauth_store.token_provider`), so the mailbox
that receives the customers' mail also sends the answers, with tokens renewed and stored the
same way the poller renews them. The token must allow sending: Google's mail scope does;
Microsoft needs SMTP.Send (SMTP) or Mail.Send (Graph) consented for the app.
"""

from __future__ import annotations

from collections.abc import Callable

from connector.mail_source import MailSource
from connector.oauth_store import token_provider
from connector.outbound.delivery import MailSender, SendError
from connector.outbound.graph_send import GraphSender
from connector.outbound.smtp import SmtpSender, SmtpSettings
from connector.outbound_config import ConnectionSpec, oauth_smtp_problem
from connector.runtime import Runtime
from connector.sources.errors import SourceError


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
    """A sender for `spec`; `password` overrides the stored one (a test before saving).

    The stored password is used only for the endpoint it was saved with, and an OAuth token
    only for its provider's own server over verified TLS: the API refuses other settings,
    and this is the last line should anything else ask."""
    if spec.auth == "password" and password is None:
        stored = runtime.outbound.connection(tenant_id)
        if stored is not None and stored.spec.password_endpoint() != spec.password_endpoint():
            raise NotConfigured(
                "the stored password belongs to another server or user; enter the password "
                "to use these settings"
            )
        password = runtime.outbound.password(tenant_id)
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
            host_policy=runtime.host_policy,
        )
    )


def _token(runtime: Runtime, tenant_id: int, spec: ConnectionSpec) -> Callable[[], str]:
    source = runtime.sources.find(spec.source_id) if spec.source_id is not None else None
    if source is None or source.tenant_id != tenant_id:
        raise NotConfigured(f"mail source {spec.source_id} does not exist")
    if not source.spec.uses_oauth:
        raise NotConfigured(f"mail source {source.spec.name!r} does not sign in with OAuth")
    problem = oauth_smtp_problem(spec, oauth_provider(runtime, source))
    if problem is not None:
        raise NotConfigured(str(problem))
    try:
        return token_provider(runtime.sources, source)
    except SourceError as exc:
        raise NotConfigured(f"the source's OAuth sign-in cannot be used: {exc}") from None


# A source's preset names its provider before anyone has signed in.
_PRESET_PROVIDERS = {"gmail": "google", "microsoft365": "microsoft"}


def oauth_provider(runtime: Runtime, source: MailSource) -> str | None:
    """`google` or `microsoft`: whose tokens the source holds (its OAuth app, else preset)."""
    state = runtime.sources.oauth(source.id) or {}
    app = state.get("app")
    if isinstance(app, dict) and isinstance(app.get("provider"), str):
        return str(app["provider"])
    return _PRESET_PROVIDERS.get(source.spec.provider)
