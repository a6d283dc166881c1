"""DKIM signatures checked by dkimpy, with keys from an injected lookup.

Bounds for hostile mail: at most `MAX_SIGNATURES` signatures are checked (each costs a key
lookup and a pass over the body), and one whose h= names more than `MAX_SIGNED_FIELDS`
fields is not checked (dkimpy's header selection grows with h= times the header count).

What does not count although it verifies:
- a signature with `l=` shorter than the body. RFC 6376 §8.2: anyone may append to the
  signed part (a line "Approved, go ahead", or a whole new MIME part) and the signature still
  verifies; what people read in Jira would then include text the signer never wrote.
- rsa-sha1 signatures, which RFC 8301 §3.1 says verifiers must not consider valid.
- a signature whose h= leaves out From: (RFC 6376 §5.4 requires it): the From: line could
  be rewritten under it, to any address of the signer's domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dkim
from dkim.canonicalization import CanonicalizationPolicy
from dkim.util import parse_tag_value

from connector.senders.domains import aligned, ascii_domain
from connector.senders.outcome import SignatureCheck

MAX_SIGNATURES = 5
MAX_SIGNED_FIELDS = 200

# "selector._domainkey.example.com" -> the TXT record's text, or None when there is none.
KeyLookup = Callable[[str], str | None]


class KeyLookupError(Exception):
    """The key could not be fetched now (DNS timeout, server failure): worth a retry."""


@dataclass
class _Lookups:
    lookup: KeyLookup
    missing: bool = False
    failed: bool = False

    def dnsfunc(self, name: bytes, timeout: float = 5) -> bytes | None:
        try:
            record = self.lookup(name.decode("ascii").rstrip("."))
        except KeyLookupError:
            self.failed = True
            raise
        if record is None:
            self.missing = True
            return None
        return record.encode("ascii", "replace")


def _signature_values(message: dkim.DKIM) -> list[bytes]:
    return [v for n, v in message.headers if n.lower() == b"dkim-signature"][:MAX_SIGNATURES]


def key_names(message: dkim.DKIM) -> tuple[str, ...]:
    """The DNS names of the keys `check_signatures` will ask for, in order, each once."""
    names: list[str] = []
    for value in _signature_values(message):
        tags = _tags(value)
        if tags is None:  # an unreadable signature needs no key
            continue
        name = f"{_text(tags.get(b's', b''))}._domainkey.{_text(tags.get(b'd', b''))}"
        if name not in names:
            names.append(name)
    return tuple(names)


def _tags(value: bytes) -> dict[bytes, bytes] | None:
    try:
        return dict(parse_tag_value(value))
    except Exception:  # dkimpy's InvalidTagValueList, and any other on hostile text
        return None


def _text(tag: bytes) -> str:
    return tag.decode("ascii", "replace").strip()


def check_signatures(
    message: dkim.DKIM, from_domain: str, lookup: KeyLookup
) -> tuple[tuple[SignatureCheck, ...], bool]:
    """Each of the first signatures, checked; and whether a key lookup failed for now."""
    checks: list[SignatureCheck] = []
    unavailable = False
    for index, value in enumerate(_signature_values(message)):
        lookups = _Lookups(lookup)
        checks.append(_check(message, index, value, from_domain, lookups))
        unavailable = unavailable or lookups.failed
    return tuple(checks), unavailable


def _check(
    message: dkim.DKIM, index: int, value: bytes, from_domain: str, lookups: _Lookups
) -> SignatureCheck:
    tags = _tags(value)
    if tags is None:
        return SignatureCheck("", "", valid=False, aligned=False, problem="unreadable signature")
    signer = ascii_domain(_text(tags.get(b"d", b""))) or ""
    selector = _text(tags.get(b"s", b""))[:63]
    is_aligned = bool(signer) and aligned(signer, from_domain)

    def check(valid: bool, problem: str = "") -> SignatureCheck:
        return SignatureCheck(signer, selector, valid, is_aligned, problem)

    if tags.get(b"a", b"").lower() == b"rsa-sha1":
        return check(False, "rsa-sha1 is no longer accepted (RFC 8301)")
    signed = tags.get(b"h", b"").split(b":")
    if len(signed) > MAX_SIGNED_FIELDS:
        return check(False, f"signs more than {MAX_SIGNED_FIELDS} header fields")
    if b"from" not in {name.strip().lower() for name in signed}:
        return check(False, "does not sign the From: line (RFC 6376 §5.4)")
    try:
        valid = bool(message.verify(index, dnsfunc=lookups.dnsfunc))
    except KeyLookupError:
        return check(False, f"key lookup failed for {selector}._domainkey.{signer}")
    except Exception as error:  # dkimpy's own errors, and any other on hostile input
        return check(False, f"{type(error).__name__}: {str(error)[:120]}")
    if lookups.missing:
        return check(False, f"no key at {selector}._domainkey.{signer}")
    if not valid:
        return check(False, "signature does not verify")
    return check(True, _partial_body(message, tags))


def _partial_body(message: dkim.DKIM, tags: dict[bytes, bytes]) -> str:
    """Why a verified signature still does not count for the whole body; "" when it does."""
    if b"l" not in tags:
        return ""
    policy = CanonicalizationPolicy.from_c_value(tags.get(b"c", b"simple/simple"))
    length = len(policy.canonicalize_body(message.body))
    signed = int(tags[b"l"])
    return "" if signed >= length else f"l={signed} signs {signed} of {length} body bytes"
