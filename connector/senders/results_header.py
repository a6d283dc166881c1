"""DMARC as recorded by a trusted receiving server in Authentication-Results (RFC 8601).

Which header counts: the topmost one whose authserv-id the source trusts, and no other.
Anything the sender wrote sits below the headers that receiving servers prepend (RFC 5321
§4.4, RFC 8601 §5), so a forged header with a trusted id is always under the real one and is
ignored. Headers above it were added after it, by later hops inside the receiving side (a
filter, the mailbox store); those with other ids are ignored too, as the source does not
trust them. This holds only when the trusted server writes a header on every message: one
that writes none would leave a forged one topmost, which is why the ids are a per-source
choice. A trusted server that splits its results over several headers is read from the
topmost alone; a DMARC result further down is not looked for.

A header whose authserv-id is read but whose results are not (authres refuses it) still
ends the search when the id is trusted: skipping it would let a forged one below count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import authres

from connector.senders.trusted import NO_AUTHSERV_ID, TrustedServers

MAX_RESULTS_HEADERS = 50  # only the top of a message holds the receiving side's headers
MAX_RESULTS_CHARS = 16 * 1024  # long ones exist (many ARC results); past this, unread
_LEADING_COMMENT = re.compile(r"^\s*(?:\([^()]*\)\s*)*")
_FIRST_WORD = re.compile(r'^"?([^\s;"()]+)')
_ID_WINDOW = 1024  # where a header's authserv-id is looked for when authres cannot read it
# The placeholder put in front of a header without authserv-id so that authres can read it.
_PLACEHOLDER = "authserv-id.invalid"


class Dmarc(Enum):
    PASS = "pass"  # noqa: S105 (a DMARC result, not a password)
    FAIL = "fail"
    NO_RESULT = "no_result"  # the trusted header has no usable DMARC result for our domain
    NO_TRUSTED_HEADER = "no_trusted_header"


@dataclass(frozen=True)
class DmarcVerdict:
    dmarc: Dmarc
    authserv_id: str | None = None  # the trusted header's id ("" for Microsoft's form)
    untrusted: tuple[str, ...] = ()  # ids of the headers passed over
    detail: str = ""


def trusted_dmarc(
    headers: Sequence[tuple[str, str]], from_domain: str, servers: TrustedServers
) -> DmarcVerdict:
    """The DMARC verdict for `from_domain` in the trusted server's topmost header.

    `headers`: the message's header fields in order, top first, values unfolded."""
    untrusted: list[str] = []
    values = [v for n, v in headers if n.lower() == "authentication-results"]
    for value in values[:MAX_RESULTS_HEADERS]:
        authserv_id = _authserv_id(value)
        if authserv_id is None or not servers.trusts(authserv_id):
            untrusted.append("?" if authserv_id is None else authserv_id or "(no authserv-id)")
            continue
        return _verdict(value, authserv_id, from_domain, tuple(untrusted))
    return DmarcVerdict(Dmarc.NO_TRUSTED_HEADER, untrusted=tuple(untrusted))


def _authserv_id(value: str) -> str | None:
    """The header's authserv-id in lower case; NO_AUTHSERV_ID when it starts with a result
    (`spf=pass ...`); None when not even that can be read. A header too long for authres
    still has its id read from its start: a trusted one must end the search all the same."""
    header = _parse(value)
    if header is not None:
        return str(header.authserv_id).lower()
    word = _FIRST_WORD.match(_LEADING_COMMENT.sub("", value[:_ID_WINDOW], count=1))
    if word is None:
        return None
    return NO_AUTHSERV_ID if "=" in word.group(1) else word.group(1).lower()


def _parse(text: str) -> Any:
    """authres's reading of a header value, or None when it refuses it or it is too long."""
    if len(text) > MAX_RESULTS_CHARS + len(_PLACEHOLDER) + 2:
        return None
    try:
        return authres.AuthenticationResultsHeader.parse_value(text)
    except Exception:  # authres raises its own SyntaxError and others on hostile text
        return None


def _verdict(
    value: str, authserv_id: str, from_domain: str, untrusted: tuple[str, ...]
) -> DmarcVerdict:
    def verdict(dmarc: Dmarc, detail: str = "") -> DmarcVerdict:
        return DmarcVerdict(dmarc, authserv_id, untrusted, detail)

    text = f"{_PLACEHOLDER}; {value}" if authserv_id == NO_AUTHSERV_ID else value
    parsed = _parse(text)
    if parsed is None:
        return verdict(Dmarc.NO_RESULT, "its Authentication-Results could not be read")
    ours: set[str] = set()
    others: list[str] = []
    for result in parsed.results:
        if str(result.method).lower() != "dmarc":
            continue
        domains = {
            str(p.value).lower()
            for p in result.properties
            if str(p.type).lower() == "header" and str(p.name).lower() == "from"
        }
        outcome = str(result.result).lower()
        if domains == {from_domain}:
            ours.add(outcome)
        else:
            others.append(f"dmarc={outcome} for {', '.join(sorted(domains)) or 'no domain'}")
    by = authserv_id or "Microsoft"
    if "fail" in ours:
        return verdict(Dmarc.FAIL, f"dmarc=fail by {by}")
    if "pass" in ours:
        return verdict(Dmarc.PASS)
    seen = [f"dmarc={outcome}" for outcome in sorted(ours)] + others
    return verdict(Dmarc.NO_RESULT, f"{'; '.join(seen) or 'no DMARC result'} by {by}")
