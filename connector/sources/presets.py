"""Where the big providers keep their mailboxes, so an admin only types an address and password.

Values from each provider's own help pages (mail client settings), checked 2025. Every preset
uses implicit TLS where the provider offers it: STARTTLS can be stripped by an active attacker
if the client does not insist on it, implicit TLS cannot (RFC 8314 §3 recommends it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from connector.sources.config import ProtocolName, Security, SourceConfig
from connector.sources.errors import SourceConfigError

OAuthProvider = Literal["google", "microsoft"]


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    security: Security


@dataclass(frozen=True)
class Preset:
    key: str
    name: str
    imap: Endpoint | None
    pop3: Endpoint | None
    graph: Endpoint | None = None
    # Which OAuth2 flow the provider wants for IMAP/POP3 (None: password or app password).
    oauth: OAuthProvider | None = None
    note: str = ""

    def endpoint(self, protocol: ProtocolName) -> Endpoint | None:
        endpoint: Endpoint | None = getattr(self, protocol)
        return endpoint


PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "gmail": Preset(
            key="gmail",
            name="Gmail / Google Workspace",
            imap=Endpoint("imap.gmail.com", 993, "ssl"),
            pop3=Endpoint("pop.gmail.com", 995, "ssl"),
            oauth="google",
            note="Sign in with Google (OAuth2), or an app password with 2-step verification.",
        ),
        "microsoft365": Preset(
            key="microsoft365",
            name="Outlook / Microsoft 365",
            imap=Endpoint("outlook.office365.com", 993, "ssl"),
            pop3=Endpoint("outlook.office365.com", 995, "ssl"),
            graph=Endpoint("graph.microsoft.com", 443, "ssl"),
            oauth="microsoft",
            note="Microsoft turned basic authentication off: sign in with Microsoft (OAuth2).",
        ),
        "yahoo": Preset(
            key="yahoo",
            name="Yahoo Mail",
            imap=Endpoint("imap.mail.yahoo.com", 993, "ssl"),
            pop3=Endpoint("pop.mail.yahoo.com", 995, "ssl"),
            note="Use an app password generated in the Yahoo account security settings.",
        ),
        "zoho": Preset(
            key="zoho",
            name="Zoho Mail",
            imap=Endpoint("imap.zoho.com", 993, "ssl"),
            pop3=Endpoint("pop.zoho.com", 995, "ssl"),
            note="Accounts in the EU or India data centre use imap.zoho.eu / imap.zoho.in; "
            "organisation accounts use imappro.zoho.com. IMAP access must be enabled in Zoho.",
        ),
        "icloud": Preset(
            key="icloud",
            name="iCloud Mail",
            imap=Endpoint("imap.mail.me.com", 993, "ssl"),
            pop3=None,
            note="Use an app-specific password; iCloud offers no POP3.",
        ),
        "custom": Preset(key="custom", name="Custom server", imap=None, pop3=None),
    }
)

# IANA ports: imap 143, imaps 993 (RFC 8314), pop3 110, pop3s 995.
_DEFAULT_PORTS: Mapping[tuple[str, str], int] = MappingProxyType(
    {
        ("imap", "ssl"): 993,
        ("imap", "starttls"): 143,
        ("imap", "none"): 143,
        ("pop3", "ssl"): 995,
        ("pop3", "starttls"): 110,
        ("pop3", "none"): 110,
        ("graph", "ssl"): 443,
    }
)


def default_port(protocol: ProtocolName, security: Security) -> int:
    try:
        return _DEFAULT_PORTS[(protocol, security)]
    except KeyError:
        raise SourceConfigError("security", f"{protocol} cannot use {security!r}") from None


def get_preset(provider: str) -> Preset:
    try:
        return PRESETS[provider]
    except KeyError:
        known = ", ".join(PRESETS)
        raise SourceConfigError("provider", f"{provider!r} is not one of {known}") from None


def config_from_preset(
    provider: str, protocol: ProtocolName, *, username: str, **settings: Any
) -> SourceConfig:
    """A SourceConfig with host, port and security from the preset; `settings` may override
    any of them (the admin can still change a preset's port) and set everything else."""
    preset = get_preset(provider)
    endpoint = preset.endpoint(protocol)
    if endpoint is None and preset.key != "custom":
        raise SourceConfigError("protocol", f"{preset.name} does not offer {protocol}")
    if endpoint is not None:
        settings.setdefault("host", endpoint.host)
        settings.setdefault("security", endpoint.security)
        settings.setdefault("port", endpoint.port)
    if "host" not in settings:
        raise SourceConfigError("host", "is required for a custom server")
    settings.setdefault("security", "ssl")
    settings.setdefault("port", default_port(protocol, settings["security"]))
    if protocol == "pop3":
        settings.setdefault("after_processing", "delete")
    return SourceConfig(protocol=protocol, username=username, **settings)
