"""Sender authentication end to end (issue 15), against Dovecot and the fake Jira: a forged
From: line naming a Jira user never speaks as that user; a DKIM-signed message does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from email.message import EmailMessage
from typing import Any

import pytest

from connector.mail_source import SourcePolicy
from connector.outcomes import Outcome
from connector.storage.email_log import LogEntry
from connector.wiring import poll_source
from tests import dkim_keys
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.mailbox_support import PolledSource, enabled_source, mail
from tests.servers.dovecot import Dovecot, MailUser

ADA = "Ada Lovelace <ada@example.com>"  # a Jira user; example.com's test key signs for her
NOT_VERIFIED = "(sender not verified: the message has no DKIM signature) wrote by email:"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


class Desk(PolledSource):
    def deliver(self, message: EmailMessage, *, signed: bool = False) -> None:
        raw = message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        self.dovecot.deliver(self.user, dkim_keys.sign(raw) if signed else raw)

    def entry(self, subject: str) -> LogEntry:
        entries = self.app.runtime.email_log.search(self.tenant_id)
        return next(e for e in entries if e.subject == subject)

    def issue(self, key: str) -> dict[str, Any]:
        found = self.jira.issue(key)
        assert found is not None
        return found

    def comments(self, key: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.issue(key)["fields"]["comment"]["comments"]
        return found


Opened = Callable[[str], Desk]


@pytest.fixture
def desk(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> Opened:
    def open_desk(sender_verification: str) -> Desk:
        policy = SourcePolicy(sender_verification=sender_verification)
        tenant_id, source_id = enabled_source(
            running_app, fake_jira, dovecot, mail_user, policy=policy
        )
        fake_jira.add_user("acc-ada", "ada@example.com", "Ada Lovelace")
        return Desk(running_app, fake_jira, dovecot, mail_user, tenant_id, source_id)

    return open_desk


def _text(node: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in node.get("content", []))


def _said(entry: LogEntry, text: str) -> bool:
    return any(text in step for step in entry.trail)


def _with_issue(desk: Desk) -> str:
    """A customer's issue for the replies to go to; its key."""
    desk.deliver(mail("Printer on fire", "Room 4."))
    assert desk.poll() == {"created": 1}
    return "SUP-1"


def test_forged_reply_from_an_agent_is_the_apps_comment_naming_the_sender_unverified(
    desk: Opened,
) -> None:
    site = desk("verify")
    key = _with_issue(site)
    site.deliver(mail(f"Re: [{key}] Printer on fire", "Approved, go ahead.", sender=ADA))
    assert site.poll() == {"commented": 1}

    (comment,) = site.comments(key)
    assert comment["author"]["accountId"] != "acc-ada"
    first = _text(comment["body"]["content"][0])
    assert first == f"Ada Lovelace <ada@example.com> {NOT_VERIFIED}"
    assert site.jira.token_requests == []  # no impersonation was even asked for
    entry = site.entry(f"Re: [{key}] Printer on fire")
    assert _said(entry, "sender not verified: the message has no DKIM signature")


def test_forged_new_issue_from_an_agent_is_not_reported_by_the_agent(desk: Opened) -> None:
    site = desk("verify")
    site.deliver(mail("Approve the budget", "Approved.", sender=ADA))
    assert site.poll() == {"created": 1}

    issue = site.issue("SUP-1")
    assert (issue["fields"].get("reporter") or {}).get("accountId") != "acc-ada"
    first = _text(issue["fields"]["description"]["content"][0])
    assert first == f"Ada Lovelace <ada@example.com> {NOT_VERIFIED}"


def test_signed_reply_from_an_agent_is_the_agents_own_comment(desk: Opened) -> None:
    site = desk("verify")
    key = _with_issue(site)
    site.deliver(mail(f"Re: [{key}] Printer on fire", "It is out now.", sender=ADA), signed=True)
    assert site.poll() == {"commented": 1}

    (comment,) = site.comments(key)
    assert comment["author"]["accountId"] == "acc-ada"
    assert "wrote by email" not in str(comment["body"])
    entry = site.entry(f"Re: [{key}] Printer on fire")
    assert _said(entry, "sender verified for example.com by dkim")


def test_reject_unverified_quarantines_forged_mail_with_the_reason(desk: Opened) -> None:
    site = desk("reject_unverified")
    key = _with_issue(site)  # a stranger without an account is not held back
    site.deliver(mail(f"Re: [{key}] Printer on fire", "Approved, go ahead.", sender=ADA))
    assert site.poll() == {"failed": 1}

    assert site.comments(key) == []
    entry = site.entry(f"Re: [{key}] Printer on fire")
    assert entry.outcome == Outcome.FAILED
    assert entry.reason == "sender not verified: the message has no DKIM signature"


def test_trust_mailbox_attributes_unsigned_mail_and_says_so(desk: Opened) -> None:
    site = desk("trust_mailbox")
    key = _with_issue(site)
    site.deliver(mail(f"Re: [{key}] Printer on fire", "It is out now.", sender=ADA))
    assert site.poll() == {"commented": 1}

    (comment,) = site.comments(key)
    assert comment["author"]["accountId"] == "acc-ada"
    entry = site.entry(f"Re: [{key}] Printer on fire")
    assert _said(entry, "trusted as the mailbox accepted it")


def test_a_key_that_cannot_be_fetched_postpones_the_message(desk: Opened) -> None:
    site = desk("verify")
    key = _with_issue(site)
    site.deliver(mail(f"Re: [{key}] Printer on fire", "It is out now.", sender=ADA), signed=True)
    runtime = replace(site.app.runtime, key_lookup=dkim_keys.failing_lookup)
    result = poll_source(runtime, site.source_id, owner="test")
    assert result.counts == {"pending": 1}

    assert site.comments(key) == []  # neither her comment nor the app's, yet
    entry = site.entry(f"Re: [{key}] Printer on fire")
    assert entry.outcome == Outcome.PENDING
    assert _said(entry, "the signer's DKIM key could not be fetched")
    assert entry.next_attempt_at is not None
