"""Is this message authenticated for the address in its From: line?

Verified when a DKIM signature verifies over the whole body and is aligned with the From:
domain (relaxed: one organisational domain), or when the source's trusted receiving server
recorded DMARC pass for that domain (`results_header`). Our own DKIM check comes first: it
needs no trust in anyone's header.

Bounds for hostile mail: the header block must fit the first `MAX_HEADER_BYTES` bytes (the
figure `connector.understanding.HEADER_BLOCK_BYTES` reads, which holds any real header
block) and hold at most `MAX_HEADER_FIELDS` fields; larger ones are not checked, so not
verified. The body is read once per signature checked (`signatures.MAX_SIGNATURES`).
"""

from __future__ import annotations

import re
from collections.abc import Collection

import dkim

from connector.mail.addresses import is_usable, parse_addresses
from connector.senders.domains import ascii_domain, within
from connector.senders.outcome import Method, Reason, SenderAuthentication, SignatureCheck
from connector.senders.results_header import Dmarc, DmarcVerdict, trusted_dmarc
from connector.senders.signatures import KeyLookup, check_signatures, key_names
from connector.senders.trusted import TrustedServers

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_FIELDS = 1000
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def authenticate_sender(
    raw: bytes,
    sender: str | None,
    *,
    trusted: TrustedServers,
    lookup_key: KeyLookup,
    own_domains: Collection[str] = (),
) -> SenderAuthentication:
    """Whether `raw` is authenticated for `sender`, the address the message would be
    attributed to (it must be the one mailbox of the one From: line)."""
    message = _read(raw)
    if message is None:
        return SenderAuthentication(False, None, reason=Reason.UNREADABLE_HEADERS)
    headers = [(_text(name), _FOLD.sub("", _text(v)).strip()) for name, v in message.headers]
    from_values = [value for name, value in headers if name.lower() == "from"]
    addresses = [a for v in from_values for a in parse_addresses(v) if is_usable(a)]
    if len(from_values) > 1 or len(addresses) > 1:
        return SenderAuthentication(False, None, reason=Reason.MULTIPLE_FROM)
    domain = ascii_domain(addresses[0].domain) if addresses else None
    if domain is None:
        return SenderAuthentication(False, None, reason=Reason.NO_FROM_DOMAIN)
    own = within(domain, {d for d in map(ascii_domain, own_domains) if d})
    if sender is None or sender.casefold() != addresses[0].address.casefold():
        # Among others, the author a mailing list named in Reply-To when it rewrote From
        # (connector.mail.lists): the list's signature is for the list's domain, and nothing
        # in the message vouches for the address it copied.
        return SenderAuthentication(False, domain, reason=Reason.SENDER_NOT_FROM, own_domain=own)
    checks, unavailable = check_signatures(message, domain, lookup_key)
    dmarc = trusted_dmarc(headers, domain, trusted)
    counted = [c for c in checks if c.valid and c.aligned and not c.problem]
    if counted:
        return SenderAuthentication(
            True,
            domain,
            Method.DKIM,
            own_domain=own,
            detail=f"d={counted[0].domain}",
            signatures=checks,
        )
    if dmarc.dmarc is Dmarc.PASS:
        by = dmarc.authserv_id or "Microsoft"
        return SenderAuthentication(
            True, domain, Method.DMARC, own_domain=own, detail=f"by {by}", signatures=checks
        )
    reason, detail = _failure(checks, unavailable, dmarc)
    return SenderAuthentication(
        False, domain, reason=reason, own_domain=own, detail=detail, signatures=checks
    )


def dkim_key_names(raw: bytes) -> tuple[str, ...]:
    """The DKIM keys `authenticate_sender` will look up for `raw`: so that they can be
    fetched where network is at hand and the check run where it is not."""
    message = _read(raw)
    return key_names(message) if message is not None else ()


def _read(raw: bytes) -> dkim.DKIM | None:
    end = _HEADER_END.search(raw, 0, MAX_HEADER_BYTES + 4)
    if end is None and len(raw) > MAX_HEADER_BYTES:
        return None
    head = raw[: end.start() if end else len(raw)]
    if head.count(b"\n") + 1 > MAX_HEADER_FIELDS * 4:  # folded lines; fields counted below
        return None
    try:
        message = dkim.DKIM(raw)
    except Exception:  # dkimpy refuses a header block it cannot split into fields
        return None
    return message if len(message.headers) <= MAX_HEADER_FIELDS else None


def _text(value: bytes) -> str:
    """Header bytes as the stdlib parser gives them: 8-bit bytes as surrogate escapes."""
    return value.decode("ascii", "surrogateescape")


def _failure(
    checks: tuple[SignatureCheck, ...], unavailable: bool, dmarc: DmarcVerdict
) -> tuple[Reason, str]:
    """The reason a person can act on, most telling first."""
    partial = [c for c in checks if c.valid and c.aligned]
    foreign = [c for c in checks if c.valid and not c.aligned]
    ours = [c for c in checks if c.aligned] or list(checks)
    if dmarc.dmarc is Dmarc.FAIL:
        return Reason.DMARC_FAIL, dmarc.detail
    if partial:
        return Reason.PARTIAL_BODY, partial[0].problem
    if foreign:
        return Reason.NOT_ALIGNED, "signed by " + ", ".join(sorted({c.domain for c in foreign}))
    if unavailable:
        return Reason.KEY_UNAVAILABLE, next(c.problem for c in checks if "lookup" in c.problem)
    if checks:
        return Reason.SIGNATURE_FAILS, f"d={ours[0].domain}: {ours[0].problem}"
    if dmarc.dmarc is Dmarc.NO_TRUSTED_HEADER and dmarc.untrusted:
        return Reason.UNTRUSTED_RESULTS, "written by " + ", ".join(dmarc.untrusted[:5])
    return Reason.NO_SIGNATURE, dmarc.detail
