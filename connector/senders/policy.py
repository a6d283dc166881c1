"""What a source's `sender_verification` setting makes of a verdict (issue 15).

- `verify` (the default): the sender's Jira account is used (reporter, comment author, JSM
  customer) only when the message is authenticated; otherwise the app writes it and names
  the sender as unverified.
- `trust_mailbox`: the mailbox provider is trusted to have refused forgeries (internal
  servers without DKIM); an admin's explicit choice.
- `reject_unverified`: unauthenticated mail from an address with a Jira account is
  quarantined with the reason rather than delivered.

Whatever the setting, mail whose From: line claims one of the app's own domains and is not
authenticated is never attributed, and is quarantined under `reject_unverified`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from connector.senders.outcome import SenderAuthentication


class SenderVerification(StrEnum):
    VERIFY = "verify"
    TRUST_MAILBOX = "trust_mailbox"
    REJECT_UNVERIFIED = "reject_unverified"


@dataclass(frozen=True)
class Attribution:
    """`as_account`: the sender's account may speak for the message. `quarantine`: the
    reason to quarantine it instead, or None. `note`: one line for the trail."""

    as_account: bool
    quarantine: str | None
    note: str


def attribute(
    result: SenderAuthentication, policy: SenderVerification, *, has_account: bool
) -> Attribution:
    if result.verified:
        return Attribution(True, None, result.summary)
    if policy is SenderVerification.REJECT_UNVERIFIED and (has_account or result.own_domain):
        return Attribution(False, result.summary, result.summary)
    if policy is SenderVerification.TRUST_MAILBOX and not result.own_domain:
        return Attribution(True, None, f"{result.summary}; trusted as the mailbox accepted it")
    return Attribution(False, None, result.summary)
