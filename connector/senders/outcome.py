"""What sender authentication found: a frozen value for the decision, the log and preview."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum


class Method(StrEnum):
    """How the From: domain was authenticated."""

    DKIM = "dkim"  # our own check of a DKIM signature aligned with the From: domain
    DMARC = "dmarc"  # DMARC pass in the trusted server's Authentication-Results


class Reason(Enum):
    """Why a message is not authenticated for its From: address; `text` is for people."""

    NO_SIGNATURE = "no_signature", "the message has no DKIM signature"
    SIGNATURE_FAILS = "signature_fails", "the DKIM signature does not verify"
    KEY_UNAVAILABLE = "key_unavailable", "the signer's DKIM key could not be fetched"
    NOT_ALIGNED = "not_aligned", "the DKIM signature is for another domain than the From: line"
    PARTIAL_BODY = "partial_body", "the DKIM signature covers only part of the body (l=)"
    DMARC_FAIL = "dmarc_fail", "the receiving server recorded a DMARC failure"
    UNTRUSTED_RESULTS = (
        "untrusted_results",
        "only Authentication-Results from servers this source does not trust",
    )
    NO_FROM_DOMAIN = "no_from_domain", "the From: line has no address with a domain"
    MULTIPLE_FROM = "multiple_from", "the message names more than one From: address"
    SENDER_NOT_FROM = "sender_not_from", "the sender was not taken from the From: line"
    UNREADABLE_HEADERS = "unreadable_headers", "the header block is too large or malformed"

    def __init__(self, code: str, text: str) -> None:
        self.code = code
        self.text = text


@dataclass(frozen=True)
class SignatureCheck:
    """One DKIM-Signature as checked: its d= and s=, and whether and why it counts."""

    domain: str
    selector: str
    valid: bool
    aligned: bool
    problem: str = ""  # why it failed or does not count; "" when it verified in full


@dataclass(frozen=True)
class SenderAuthentication:
    """The verdict on one message's From: address.

    `domain` is the authenticated domain when `verified`, else the From: domain (or None).
    `own_domain` says the From: line claims one of the app's own domains: such mail that is
    not verified is never trusted, whatever the source's policy.
    """

    verified: bool
    domain: str | None
    method: Method | None = None
    reason: Reason | None = None
    own_domain: bool = False
    detail: str = ""
    signatures: tuple[SignatureCheck, ...] = ()

    @property
    def retryable(self) -> bool:
        """A key could not be fetched now: checking again later may verify the message."""
        return self.reason is Reason.KEY_UNAVAILABLE

    @property
    def summary(self) -> str:
        """One line for the email log trail and `connector preview`."""
        if self.verified:
            return f"sender verified for {self.domain} by {self.method}"
        assert self.reason is not None
        text = f"sender not verified: {self.reason.text}"
        if self.detail:
            text += f" ({self.detail})"
        return text + ("; the From: line claims one of our own domains" if self.own_domain else "")
