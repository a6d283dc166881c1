"""The outbound connection, declared once: how a tenant's mail leaves.

`connector.outbound_config` reads the API's JSON against `SETTINGS` (bounds, lengths and
choices from here; its messages are its own) and answers with them; the OpenAPI document's
`ConnectionSettings` and `OutboundConnection` properties are derived from them; a unit test
holds the `outbound_connections` table to them. Defaults that depend on other settings (the
port on the security, the sign-in on the transport) are the reader's.
"""

from __future__ import annotations

from collections.abc import Mapping

from connector.resources.declare import Setting

TRANSPORTS = ("smtp", "graph")
AUTH_METHODS = ("password", "oauth", "none")
SECURITY = ("ssl", "starttls", "none")

SETTINGS: tuple[Setting, ...] = (
    Setting("transport", "string", "smtp, or Microsoft Graph sendMail", choices=TRANSPORTS),
    Setting(
        "auth",
        "string",
        "password; oauth: the sign-in of the mail source `source_id`",
        choices=AUTH_METHODS,
    ),
    Setting("host", "string", "SMTP server", max_length=255),
    Setting("port", "integer", minimum=1, maximum=65535),
    Setting("security", "string", choices=SECURITY),
    Setting("verify_tls", "boolean"),
    Setting("username", "string", "SMTP account; Graph: the mailbox that sends", max_length=320),
    Setting("source_id", "integer", nullable=True, minimum=1),
    Setting("from_address", "string", required=True, format="email", max_length=320),
    Setting("from_name", "string", max_length=255),
    Setting(
        "reply_to",
        "string",
        "empty: the address of the mailbox the issue came in through",
        max_length=320,
    ),
    Setting("timeout_seconds", "integer", minimum=1, maximum=120),
    Setting("enabled", "boolean"),
    Setting("password", "string", nullable=True, write_only=True, storage="secret"),
)

BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}
