"""An OAuth2 app registration for mailboxes, and the tokens it is granted.

`OAuthClientConfig` is what an admin registered at Google or Microsoft plus what the tokens are
for (IMAP/POP3 or Graph, signed-in or application access), checked when it is made; its
`scopes` are the permissions asked for. `OAuthTokens` is what a token endpoint granted. The
flows that get tokens are in `connector.sources.oauth`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args
from urllib.parse import urlsplit

from connector.sources.config import ProtocolName
from connector.sources.errors import SourceConfigError

Provider = Literal["google", "microsoft"]
Access = Literal["delegated", "application"]

GOOGLE_MAIL_SCOPE = "https://mail.google.com/"
MICROSOFT_LOGIN = "https://login.microsoftonline.com"
# msal adds offline_access, openid and profile itself and refuses them when passed in.
# The send permission of the same resource comes with each sign-in, so the account that
# receives can also send the notifications (connector.outbound) without a second consent.
_MICROSOFT_DELEGATED: Mapping[str, tuple[str, ...]] = {
    "imap": (
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
    ),
    "pop3": (
        "https://outlook.office.com/POP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
    ),
    # .Shared: the signed-in user may read a shared mailbox they have rights on.
    "graph": (
        "https://graph.microsoft.com/Mail.ReadWrite",
        "https://graph.microsoft.com/Mail.ReadWrite.Shared",
        "https://graph.microsoft.com/Mail.Send",
    ),
}
# Client credentials ask for a resource's `.default`: whatever an admin consented to for the app
# ("Authenticate an IMAP, POP or SMTP connection using OAuth", Microsoft Learn).
_MICROSOFT_APPLICATION: Mapping[str, tuple[str, ...]] = {
    "imap": ("https://outlook.office365.com/.default",),
    "pop3": ("https://outlook.office365.com/.default",),
    "graph": ("https://graph.microsoft.com/.default",),
}
_MULTI_TENANT = frozenset({"common", "organizations", "consumers"})
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")


@dataclass(frozen=True)
class OAuthClientConfig:
    """The app registration at the provider, and what the tokens are for.

    `protocol` picks the scopes: IMAP/POP3 tokens and Graph tokens are for different resources
    and one Microsoft token cannot serve both. `tenant` (Microsoft) is the directory id or domain;
    `organizations` lets any work account sign in, application access needs the real tenant.
    """

    provider: Provider
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str | None = None
    tenant: str = "organizations"
    protocol: ProtocolName = "imap"
    access: Access = "delegated"
    timeout_seconds: int = 30

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("provider", self.provider, get_args(Provider)),
            ("protocol", self.protocol, get_args(ProtocolName)),
            ("access", self.access, get_args(Access)),
        ):
            if value not in choices:
                raise SourceConfigError(name, f"{value!r} is not one of {', '.join(choices)}")
        for name in ("client_id", "client_secret"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise SourceConfigError(name, "is required")
        if isinstance(self.timeout_seconds, bool) or self.timeout_seconds not in range(1, 61):
            raise SourceConfigError("timeout_seconds", "is not a whole number from 1 to 60")
        if self.redirect_uri is not None:
            _check_redirect_uri(self.redirect_uri)
        if self.provider == "google":
            if self.protocol == "graph":
                raise SourceConfigError("protocol", "Microsoft Graph needs a Microsoft sign-in")
            if self.access == "application":
                # Gmail has no client-credentials grant; domain-wide delegation is another flow.
                raise SourceConfigError("access", "Google offers Gmail access only by sign-in")
        elif not _TENANT.match(self.tenant):
            raise SourceConfigError("tenant", f"{self.tenant!r} is not a tenant id or domain")
        elif self.access == "application" and self.tenant.lower() in _MULTI_TENANT:
            raise SourceConfigError("tenant", "application access needs the tenant id or domain")

    @property
    def scopes(self) -> tuple[str, ...]:
        if self.provider == "google":
            # openid + email: the ID token names the account, which XOAUTH2 must log in as.
            return (GOOGLE_MAIL_SCOPE, "openid", "email")
        table = _MICROSOFT_APPLICATION if self.access == "application" else _MICROSOFT_DELEGATED
        return table[self.protocol]

    @property
    def authority(self) -> str:
        return f"{MICROSOFT_LOGIN}/{self.tenant}"


@dataclass(frozen=True)
class OAuthTokens:
    """What a token endpoint granted. `refresh_token` is None for client credentials."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime
    scopes: tuple[str, ...] = ()
    account: str | None = None

    def expires_within(self, margin: timedelta, now: datetime | None = None) -> bool:
        return self.expires_at - margin <= (now or datetime.now(UTC))


def _check_redirect_uri(uri: str) -> None:
    parts = urlsplit(uri)
    # RFC 6749 §3.1.2.1: redirect endpoints need TLS; loopback is the development exception.
    local = parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1", "::1"}
    if not (parts.scheme == "https" or local) or not parts.hostname or parts.fragment:
        raise SourceConfigError("redirect_uri", f"{uri!r} must be an https URL without #fragment")
