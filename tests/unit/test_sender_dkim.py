"""Sender authentication by DKIM: messages signed here with keys made here, keys looked up
from a dictionary (tests/dkim_keys.py), never from DNS."""

from __future__ import annotations

import pytest

from connector.senders.outcome import Method, Reason, SenderAuthentication
from connector.senders.signatures import MAX_SIGNATURES
from connector.senders.trusted import NOBODY
from connector.senders.verify import MAX_HEADER_BYTES, authenticate_sender, dkim_key_names
from tests.dkim_keys import (
    RELAXED,
    SIMPLE,
    Canon,
    ed25519_key,
    failing_lookup,
    lookup,
    message,
    sign,
)

ANN = "ann@example.com"


def check(raw: bytes, sender: str | None = ANN, **options: object) -> SenderAuthentication:
    arguments: dict[str, object] = {"trusted": NOBODY, "lookup_key": lookup, **options}
    return authenticate_sender(raw, sender, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("canonicalize", [RELAXED, SIMPLE, (b"relaxed", b"simple")])
def test_authenticate_sender_valid_aligned_signature_verified(canonicalize: Canon) -> None:
    result = check(sign(message(), canonicalize=canonicalize))
    assert result.verified
    assert (result.domain, result.method, result.reason) == ("example.com", Method.DKIM, None)
    assert result.summary == "sender verified for example.com by dkim"


def test_authenticate_sender_ed25519_signature_verified() -> None:
    result = check(sign(message(), selector="ed", key=ed25519_key()))
    assert result.verified and result.detail == "d=example.com"


def test_authenticate_sender_no_signature_not_verified() -> None:
    result = check(message())
    assert not result.verified
    assert result.reason is Reason.NO_SIGNATURE
    assert result.summary == "sender not verified: the message has no DKIM signature"


def test_authenticate_sender_tampered_body_fails() -> None:
    raw = sign(message()).replace(b"Yes, approved.", b"Yes, approved!")
    result = check(raw)
    assert result.reason is Reason.SIGNATURE_FAILS
    assert "body hash mismatch" in result.detail


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"Subject: Approved, go ahead", b"Subject: Rejected, stop now"),
        (b"From: Ann Agent <ann@example.com>", b"From: Ann Agent <ann@example.com >"),
    ],
)
def test_authenticate_sender_tampered_signed_header_fails(before: bytes, after: bytes) -> None:
    raw = sign(message(), canonicalize=SIMPLE).replace(before, after)
    assert raw != sign(message(), canonicalize=SIMPLE)
    result = check(raw)
    assert not result.verified and result.reason is Reason.SIGNATURE_FAILS


def test_authenticate_sender_relaxed_canonicalisation_survives_whitespace_changes() -> None:
    spaced = (b"Subject: Approved", b"Subject:  Approved")
    assert check(sign(message(), canonicalize=RELAXED).replace(*spaced)).verified
    simple = sign(message(), canonicalize=SIMPLE).replace(*spaced)
    assert check(simple).reason is Reason.SIGNATURE_FAILS


def test_authenticate_sender_other_domain_signature_not_aligned() -> None:
    result = check(sign(message(), domain="example.net"))
    assert not result.verified
    assert result.reason is Reason.NOT_ALIGNED
    assert result.detail == "signed by example.net"
    assert result.signatures[0].valid and not result.signatures[0].aligned


def test_authenticate_sender_subdomain_signature_aligned_relaxed() -> None:
    # d=mail.example.com and From: example.com share the organisational domain.
    assert check(sign(message(), domain="mail.example.com")).verified
    # and the other way round: From: a subdomain, d= the parent
    raw = sign(message(sender="bob@eu.example.com"))
    assert check(raw, sender="bob@eu.example.com").verified


def test_authenticate_sender_public_suffix_neighbours_not_aligned() -> None:
    # Two registrable domains under one public suffix are two organisations.
    keys = {"rsa._domainkey.evil.co.uk": lookup("rsa._domainkey.example.com")}
    raw = sign(message(sender="ann@victim.co.uk"), domain="evil.co.uk")
    result = check(raw, sender="ann@victim.co.uk", lookup_key=keys.get)
    assert result.reason is Reason.NOT_ALIGNED


def test_authenticate_sender_body_length_limit_with_appended_text_not_verified() -> None:
    raw = sign(message(), length=True)
    assert check(raw).verified  # l= covering the whole body is harmless
    appended = raw + b"\r\nP.S. Also delete the production database.\r\n"
    result = check(appended)
    assert not result.verified
    assert result.reason is Reason.PARTIAL_BODY
    assert result.signatures[0].valid  # the signature itself verifies: that is the trick
    assert "body bytes" in result.detail


def test_authenticate_sender_missing_key_fails() -> None:
    result = check(sign(message(), selector="gone"))
    assert result.reason is Reason.SIGNATURE_FAILS and not result.retryable
    assert "no key at gone._domainkey.example.com" in result.detail


def test_authenticate_sender_key_lookup_timeout_reported_as_unavailable() -> None:
    result = check(sign(message()), lookup_key=failing_lookup)
    assert result.reason is Reason.KEY_UNAVAILABLE and result.retryable
    assert "rsa._domainkey.example.com" in result.detail


def test_authenticate_sender_aligned_signature_among_others_verified() -> None:
    raw = sign(sign(message(), domain="example.net"), domain="example.com")
    result = check(raw)
    assert result.verified and [s.domain for s in result.signatures] == [
        "example.com",
        "example.net",
    ]


def test_authenticate_sender_signatures_past_the_cap_not_checked() -> None:
    raw = message()
    for _ in range(MAX_SIGNATURES):
        raw = sign(raw, domain="example.net")
    raw = sign(raw, domain="example.com", selector="gone")
    # The aligned (and here failing) one is on top; five more lie below it.
    assert len(check(raw).signatures) == MAX_SIGNATURES
    buried = sign(sign(message()), domain="example.net")
    for _ in range(MAX_SIGNATURES):
        buried = sign(buried, domain="example.net")
    assert check(buried).reason is Reason.NOT_ALIGNED


def test_authenticate_sender_signature_without_from_does_not_count() -> None:
    # A signature over other fields only: the From: line could be anyone at example.com.
    raw = sign(message()).replace(b"h=from : to", b"h=to", 1)
    result = check(raw)
    assert result.reason is Reason.SIGNATURE_FAILS
    assert "does not sign the From: line" in result.detail


def test_authenticate_sender_rsa_sha1_not_accepted() -> None:
    raw = sign(message()).replace(b"a=rsa-sha256", b"a=rsa-sha1")
    assert "RFC 8301" in check(raw).detail


def test_authenticate_sender_multiple_from_addresses_not_verified() -> None:
    raw = sign(message(sender="ann@example.com, eve@example.org"))
    assert check(raw).reason is Reason.MULTIPLE_FROM
    two_lines = sign(message(extra_headers="From: eve@example.org\r\n"))
    assert check(two_lines).reason is Reason.MULTIPLE_FROM


@pytest.mark.parametrize(
    "sender", ["Ann Agent <ann>", "undisclosed-recipients:;", "<>", "ann@[192.0.2.1]"]
)
def test_authenticate_sender_from_without_domain_not_verified(sender: str) -> None:
    result = check(message(sender=sender), sender=sender)
    assert result.reason is Reason.NO_FROM_DOMAIN


def test_authenticate_sender_sender_other_than_from_not_verified() -> None:
    # The pipeline falls back to Reply-To when From is unusable; that address is not From's.
    result = check(sign(message()), sender="eve@example.org")
    assert result.reason is Reason.SENDER_NOT_FROM
    assert check(sign(message()), sender=None).reason is Reason.SENDER_NOT_FROM


def test_authenticate_sender_own_domain_reported() -> None:
    raw = message(sender="desk@help.example.com")
    result = check(raw, sender="desk@help.example.com", own_domains=["example.com"])
    assert result.own_domain and not result.verified
    assert result.summary.endswith("claims one of our own domains")
    assert not check(raw, sender="desk@help.example.com", own_domains=["example.org"]).own_domain


def test_authenticate_sender_oversized_header_block_not_checked() -> None:
    padding = "X-Padding: " + "a" * 900 + "\r\n"
    raw = sign(message(extra_headers=padding * (MAX_HEADER_BYTES // 900)))
    assert check(raw).reason is Reason.UNREADABLE_HEADERS
    many = sign(message(extra_headers="X-A: b\r\n" * 1500))
    assert check(many).reason is Reason.UNREADABLE_HEADERS


def test_authenticate_sender_malformed_header_block_not_verified() -> None:
    assert check(b" folded first line\r\nFrom: ann@example.com\r\n\r\nhi").reason is (
        Reason.UNREADABLE_HEADERS
    )


def test_dkim_key_names_lists_each_key_once_and_suffices() -> None:
    raw = sign(sign(sign(message(), domain="example.net")), selector="ed", key=ed25519_key())
    names = dkim_key_names(raw)
    assert names == (
        "ed._domainkey.example.com",
        "rsa._domainkey.example.com",
        "rsa._domainkey.example.net",
    )
    fetched = {name: lookup(name) for name in names}
    assert check(raw, lookup_key=fetched.get).verified
    assert dkim_key_names(message()) == ()
