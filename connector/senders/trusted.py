"""Receiving servers whose Authentication-Results a source trusts, named by authserv-id.

RFC 8601 §2.5: an authserv-id names the server that did the checks; a reader trusts only
the ids it was told to. Presets for the mailbox providers sources are set up with:

- Gmail and Google Workspace write `mx.google.com`.
- Microsoft 365 (Exchange Online) and Outlook.com write no authserv-id at all: their header
  starts with the first result (`Authentication-Results: spf=pass (sender IP is ...) ...;
  dmarc=pass action=none header.from=...`), against RFC 8601's grammar (reported to
  go-msgauth, OpenDKIM and dkim_verifier). Outlook.com was seen renaming such headers that
  arrive from outside to `Authentication-Results-Original`; that Exchange Online does the
  same was not confirmed. Only the topmost header counts in any case (`results_header`).
- A custom server: the mailbox host and its organisational domain, the two names such
  servers usually write; the admin can name others.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.senders.domains import ascii_domain, organizational_domain

# Stands for "the header has no authserv-id", which only Microsoft's servers write.
NO_AUTHSERV_ID = ""


@dataclass(frozen=True)
class TrustedServers:
    """The authserv-ids (lower case) whose Authentication-Results a source believes."""

    authserv_ids: frozenset[str] = frozenset()

    def trusts(self, authserv_id: str) -> bool:
        return authserv_id.lower() in self.authserv_ids

    def __or__(self, other: TrustedServers) -> TrustedServers:
        return TrustedServers(self.authserv_ids | other.authserv_ids)


def trusted(*authserv_ids: str) -> TrustedServers:
    return TrustedServers(frozenset(i.strip().lower() for i in authserv_ids))


GMAIL = trusted("mx.google.com")
MICROSOFT = trusted(NO_AUTHSERV_ID)
NOBODY = TrustedServers()


def for_mailbox_host(host: str) -> TrustedServers:
    """The ids a custom mail server is likely to write: its host name and its organisational
    domain (`imap.example.com` -> `imap.example.com`, `example.com`)."""
    name = ascii_domain(host)
    if name is None:
        return NOBODY
    return trusted(name, organizational_domain(name))


# Mailbox providers (`connector.sources.presets` keys) whose authserv-id is known. Yahoo,
# Zoho and iCloud are not here: their ids were not confirmed (Yahoo's real headers name the
# receiving MTA, e.g. `mta2022.biz.mail.sg2.yahoo.com`), so their admins name them.
PROVIDER_SERVERS = {"gmail": GMAIL, "microsoft365": MICROSOFT}


def for_provider(provider: str, host: str) -> TrustedServers:
    """The preset for a source: its provider's ids, or else those of its mailbox host."""
    return PROVIDER_SERVERS.get(provider) or for_mailbox_host(host)
