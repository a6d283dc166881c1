"""Domains as DMARC compares them: ASCII, lower case, and their organisational domain.

The organisational domain (RFC 7489 §3.2) is the registrable domain under the Public Suffix
List. The list comes bundled with `publicsuffixlist` and is never fetched at run time; both
its ICANN and private sections count, so two customers of one hosting suffix
(`a.github.io`, `b.github.io`) are never aligned with each other.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import cache

from publicsuffixlist import PublicSuffixList

_MAX_DOMAIN = 253  # RFC 1035 §2.3.4
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


_LOADING = threading.Lock()


@cache
def _suffixes() -> PublicSuffixList:
    # Parsing the list takes about a second of CPU: under the lock, the message threads that
    # need it first wait for one parse instead of each making its own.
    with _LOADING:
        return _loaded()


@cache
def _loaded() -> PublicSuffixList:
    return PublicSuffixList()


def ascii_domain(domain: str) -> str | None:
    """`domain` as DNS labels in lower case (IDNA A-labels), or None when it is not one."""
    domain = domain.strip().rstrip(".").lower()
    if not domain or len(domain) > _MAX_DOMAIN or "." not in domain:
        return None
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if any(not _LABEL.match(label) for label in domain.split(".")):
        return None  # an address literal ([192.0.2.1]) or stray characters: not a DNS name
    return domain


def organizational_domain(domain: str) -> str:
    """The registrable domain of `domain`; a public suffix itself stands for itself."""
    return _suffixes().privatesuffix(domain) or domain


def aligned(signer: str, author: str) -> bool:
    """Relaxed alignment (RFC 7489 §3.1.1): both share one organisational domain."""
    return organizational_domain(signer) == organizational_domain(author)


def within(domain: str, domains: Iterable[str]) -> bool:
    """`domain` is one of `domains` or a subdomain of one."""
    return any(domain == other or domain.endswith("." + other) for other in domains)
