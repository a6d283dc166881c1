"""DKIM keys made for the tests, and messages signed with them; no DNS anywhere.

`KEYS` maps each key's DNS name to its record, as `lookup_dkim_key` would answer.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cache

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from connector.senders.signatures import KeyLookupError

Canon = tuple[bytes, bytes]
RELAXED: Canon = (b"relaxed", b"relaxed")
SIMPLE: Canon = (b"simple", b"simple")


@dataclass(frozen=True)
class TestKey:
    __test__ = False  # not a pytest class
    private: bytes  # what dkimpy signs with
    record: str  # the DNS TXT record
    algorithm: bytes


@cache
def rsa_key() -> TestKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()
    return TestKey(private, record, b"rsa-sha256")


@cache
def ed25519_key() -> TestKey:
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    record = "v=DKIM1; k=ed25519; p=" + base64.b64encode(public).decode()
    return TestKey(base64.b64encode(seed), record, b"ed25519-sha256")


def keys() -> dict[str, str]:
    """Published keys: selector `rsa` and `ed` for example.com, `rsa` for example.net."""
    return {
        "rsa._domainkey.example.com": rsa_key().record,
        "ed._domainkey.example.com": ed25519_key().record,
        "rsa._domainkey.example.net": rsa_key().record,
        "rsa._domainkey.mail.example.com": rsa_key().record,
    }


def lookup(name: str) -> str | None:
    return keys().get(name)


def failing_lookup(name: str) -> str | None:
    raise KeyLookupError(f"timeout looking up {name}")


def message(
    sender: str = "Ann Agent <ann@example.com>",
    subject: str = "Approved, go ahead",
    body: str = "Yes, approved.\r\n",
    extra_headers: str = "",
) -> bytes:
    return (
        f"{extra_headers}From: {sender}\r\nTo: help@desk.example.org\r\n"
        f"Subject: {subject}\r\nDate: Sun, 06 Dec 2026 12:00:00 +0000\r\n"
        f"Message-ID: <m1@example.com>\r\n\r\n{body}"
    ).encode()


def sign(
    raw: bytes,
    domain: str = "example.com",
    selector: str = "rsa",
    key: TestKey | None = None,
    canonicalize: Canon = RELAXED,
    length: bool = False,
) -> bytes:
    """`raw` with a DKIM-Signature on top, over From, To, Subject, Date and Message-ID."""
    key = key or rsa_key()
    signature = dkim.sign(
        raw,
        selector.encode(),
        domain.encode(),
        key.private,
        canonicalize=canonicalize,
        signature_algorithm=key.algorithm,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        length=length,
    )
    return bytes(signature) + raw
