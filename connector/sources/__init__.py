"""Mailbox adapters behind one Protocol (`base.MailSource`): IMAP, POP3 and Microsoft Graph."""

from __future__ import annotations

from connector.sources.base import MailSource
from connector.sources.config import SourceConfig


def open_source(config: SourceConfig) -> MailSource:
    """The adapter for `config.protocol`, not yet connected."""
    if config.protocol == "imap":
        from connector.sources.imap import ImapSource

        return ImapSource(config)
    if config.protocol == "pop3":
        from connector.sources.pop3 import Pop3Source

        return Pop3Source(config)
    from connector.sources.graph import GraphSource

    return GraphSource(config)
