"""Which mail never reaches Jira, and why. Pure: each check returns the reason or None.

The reasons are what an admin reads in the email log, so they name the rule that decided.
"""

from __future__ import annotations

from collections.abc import Sequence

from connector.mail.classify import Classification, MailKind
from connector.mail.inbound import Address


def automatic_mail_reason(classification: Classification, *, drop_automatic: bool) -> str | None:
    """Our own notifications are always dropped (a loop); other automatic mail by policy."""
    if classification.kind == MailKind.OWN_LOOP:
        return classification.reason
    if drop_automatic and classification.kind in {
        MailKind.AUTO_REPLY,
        MailKind.BOUNCE,
        MailKind.FEEDBACK_REPORT,
    }:
        return classification.reason
    return None


def sender_reason(
    sender: Address | None, *, ignored: Sequence[str], allowed_domains: Sequence[str]
) -> str | None:
    if sender is None:
        return "no sender: the message has no usable From, Sender or Reply-To address"
    address = sender.address.lower()
    for rule in ignored:
        if _matches(address, rule.strip().lower()):
            return f"ignored sender: matches the rule {rule!r}"
    if allowed_domains:
        domain = sender.domain
        if not any(domain == d.lower().lstrip("@") for d in allowed_domains):
            return f"sender domain {domain!r} is not in the allowed domains"
    return None


def _matches(address: str, rule: str) -> bool:
    """A rule is a whole address (`ceo@example.com`), a domain with its sub-domains
    (`@spam.example`), or a fragment of the address (`noreply`)."""
    if not rule:
        return False
    if rule.startswith("@"):
        domain, wanted = address.rpartition("@")[2], rule[1:]
        return domain == wanted or domain.endswith("." + wanted)
    if "@" in rule:
        return address == rule
    return rule in address


def rate_reason(recent_from_sender: int, *, limit_per_hour: int) -> str | None:
    """A sender over the hourly limit is held back: the brake on mail loops with robots that
    our classifier did not recognise."""
    if limit_per_hour and recent_from_sender >= limit_per_hour:
        return (
            f"rate limit: {recent_from_sender} messages from this sender reached Jira in the "
            f"last hour (limit {limit_per_hour})"
        )
    return None
