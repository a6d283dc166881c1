"""`decide()` and sender authentication (issue 15): whether the sender's account may speak
for a message, and when a message is quarantined instead. Pure, like `decide()` itself."""

from __future__ import annotations

import pytest

from connector.mail_source import SourcePolicy
from connector.pipeline.decide import Case, Create, Facts, Quarantine, Thread, decide
from connector.pipeline.gather import needs_account_fact
from connector.pipeline.routes import own_domains, resolve_route
from connector.pipeline.understanding import understand
from connector.routing.addresses import AddressRule
from connector.routing.match import message_id_digest
from connector.senders.outcome import Method, Reason, SenderAuthentication
from tests.unit.source_specs import source_spec

VERIFIED = SenderAuthentication(True, "example.com", Method.DKIM)
UNSIGNED = SenderAuthentication(False, "example.com", reason=Reason.NO_SIGNATURE)
OWN_FORGED = SenderAuthentication(False, "example.com", reason=Reason.NO_SIGNATURE, own_domain=True)
REPLIED_TO = "<first@example.com>"


def _case(auth: SenderAuthentication | None, policy: str, *, reply: bool = False) -> Case:
    spec = source_spec(policy=SourcePolicy(sender_verification=policy))
    extra = f"In-Reply-To: {REPLIED_TO}\r\n" if reply else ""
    raw = (
        f"From: Ada <ada@example.com>\r\nTo: helpdesk@example.com\r\n{extra}"
        "Subject: Approved\r\nMessage-ID: <m@example.com>\r\n\r\nGo ahead.\r\n"
    ).encode()
    understanding = understand(raw)
    route = resolve_route(spec, understanding.email.headers)
    return Case(understanding, route, spec, sender_auth=auth)


@pytest.mark.parametrize(
    ("auth", "policy", "as_account"),
    [
        (VERIFIED, "verify", True),
        (UNSIGNED, "verify", False),
        (UNSIGNED, "trust_mailbox", True),
        (OWN_FORGED, "trust_mailbox", False),  # our own domains are never taken on trust
        (None, "trust_mailbox", False),  # not checked (a preview): never attributed
        (VERIFIED, "reject_unverified", True),
    ],
)
def test_create_says_whether_the_account_may_report(
    auth: SenderAuthentication | None, policy: str, as_account: bool
) -> None:
    verdict = decide(_case(auth, policy), Facts())
    assert isinstance(verdict, Create)
    assert verdict.as_account is as_account


def test_a_reply_carries_the_attribution_too() -> None:
    known = {message_id_digest(REPLIED_TO): "SUP-7"}
    verdict = decide(_case(VERIFIED, "verify", reply=True), Facts(known=known))
    assert isinstance(verdict, Thread)
    assert verdict.as_account
    forged = decide(_case(UNSIGNED, "verify", reply=True), Facts(known=known))
    assert isinstance(forged, Thread)
    assert not forged.as_account


def test_reject_unverified_quarantines_only_jira_users_and_our_own_domains() -> None:
    case = _case(UNSIGNED, "reject_unverified")
    verdict = decide(case, Facts(sender_has_account=True))
    assert verdict == Quarantine("sender not verified: the message has no DKIM signature")
    stranger = decide(case, Facts(sender_has_account=False))
    assert isinstance(stranger, Create)
    assert not stranger.as_account
    own = decide(_case(OWN_FORGED, "reject_unverified"), Facts(sender_has_account=False))
    assert isinstance(own, Quarantine)


def test_jira_is_asked_about_the_account_only_where_it_decides() -> None:
    assert needs_account_fact(_case(UNSIGNED, "reject_unverified"))
    assert not needs_account_fact(_case(VERIFIED, "reject_unverified"))
    assert not needs_account_fact(_case(UNSIGNED, "verify"))
    assert not needs_account_fact(_case(None, "reject_unverified"))


def test_trust_mailbox_says_so_in_the_steps() -> None:
    verdict = decide(_case(UNSIGNED, "trust_mailbox"), Facts())
    assert isinstance(verdict, Create)
    assert any("trusted as the mailbox accepted it" in step for step in verdict.steps)


def test_own_domains_are_the_mailbox_exact_rules_and_given_addresses() -> None:
    spec = source_spec(AddressRule("billing@pay.example", "BIL", match="exact"))
    assert own_domains(spec, "noreply@notify.example") == {
        "example.com",
        "pay.example",
        "notify.example",
    }
