"""DKIM keys from DNS (RFC 6376 §3.6.2.2): the production `KeyLookup`; tests supply keys.

A TXT record may be split into strings of up to 255 bytes; they are joined without spaces
(RFC 6376 §3.6.2.2). No answer means no key; a timeout or a failing server is a
`KeyLookupError`, so the message can be checked again later rather than judged unsigned.
"""

from __future__ import annotations

from collections.abc import Iterable

import dns.exception
import dns.resolver

from connector.senders.signatures import KeyLookupError

LOOKUP_SECONDS = 5.0
MAX_RECORD_BYTES = 8 * 1024  # a 4096-bit RSA key is under 1 KiB of base64


def lookup_dkim_key(name: str) -> str | None:
    """The DKIM key record at `name` (`selector._domainkey.example.com`), or None."""
    try:
        answer = dns.resolver.resolve(
            name, "TXT", lifetime=LOOKUP_SECONDS, raise_on_no_answer=False, search=False
        )
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    except (
        dns.exception.Timeout,
        dns.resolver.NoNameservers,
        dns.resolver.NoResolverConfiguration,
    ) as error:
        raise KeyLookupError(f"DNS lookup of {name} failed: {type(error).__name__}") from error
    except dns.exception.DNSException:  # a name DNS cannot hold: no key can be there
        return None
    if answer.rrset is None:
        return None
    return key_record(getattr(record, "strings", ()) for record in answer.rrset)


def key_record(records: Iterable[Iterable[bytes]]) -> str | None:
    """The first TXT record (given as its strings) that holds a key (`p=`), joined."""
    for strings in records:
        data = b"".join(strings)
        if len(data) <= MAX_RECORD_BYTES and b"p=" in data:
            return data.decode("ascii", "replace")
    return None
