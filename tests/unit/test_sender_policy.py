"""The per-source `sender_verification` setting applied to a verdict."""

from __future__ import annotations

import pytest

from connector.senders.outcome import Method, Reason, SenderAuthentication
from connector.senders.policy import SenderVerification, attribute

VERIFIED = SenderAuthentication(True, "example.com", Method.DKIM, detail="d=example.com")
FORGED = SenderAuthentication(False, "example.com", reason=Reason.NO_SIGNATURE)
FORGED_OURS = SenderAuthentication(
    False, "example.com", reason=Reason.SIGNATURE_FAILS, own_domain=True
)


@pytest.mark.parametrize("policy", list(SenderVerification))
def test_attribute_verified_sender_speaks_as_account_under_every_policy(
    policy: SenderVerification,
) -> None:
    decided = attribute(VERIFIED, policy, has_account=True)
    assert decided.as_account and decided.quarantine is None


def test_attribute_verify_unverified_sender_written_by_app() -> None:
    decided = attribute(FORGED, SenderVerification.VERIFY, has_account=True)
    assert not decided.as_account and decided.quarantine is None
    assert decided.note == "sender not verified: the message has no DKIM signature"


def test_attribute_trust_mailbox_unverified_sender_trusted() -> None:
    decided = attribute(FORGED, SenderVerification.TRUST_MAILBOX, has_account=True)
    assert decided.as_account and "trusted as the mailbox accepted it" in decided.note


def test_attribute_reject_unverified_quarantines_jira_users_only() -> None:
    policy = SenderVerification.REJECT_UNVERIFIED
    assert attribute(FORGED, policy, has_account=True).quarantine == FORGED.summary
    stranger = attribute(FORGED, policy, has_account=False)
    assert stranger.quarantine is None and not stranger.as_account


@pytest.mark.parametrize("policy", list(SenderVerification))
def test_attribute_own_domain_unverified_never_trusted(policy: SenderVerification) -> None:
    decided = attribute(FORGED_OURS, policy, has_account=False)
    assert not decided.as_account
    quarantined = policy is SenderVerification.REJECT_UNVERIFIED
    assert (decided.quarantine is not None) is quarantined
