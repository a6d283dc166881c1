"""Mailing lists that rewrite From: who really wrote the message.

A domain publishing a strict DMARC policy (p=reject or quarantine) makes its users' mail fail
DMARC once a list has changed it (a footer, a subject tag). Mailman's DMARC mitigation
(`dmarc_moderation_action: munge_from`, `from_is_list`) and Google Groups therefore send the
message From the list itself, under the author's name:

    From: Ann Lee via Support-Users <support-users@lists.example.org>
    Reply-To: Ann Lee <ann@example.com>        (Mailman; in Cc when replies go to the list)
    X-Original-From: Ann Lee <ann@example.com>  (Google Groups)
    List-Id: <support-users.lists.example.org>

Attributing such a message to the list address would make every list member one reporter.
`find_list_author` finds the author instead, only when the message says it came through a
list (RFC 2369/2919 headers) and the From line is the list's rewrite, so a person's own
Reply-To never replaces their From.

The author found here is not authenticated by anything: the list's DKIM signature vouches for
the list's domain, not for the address it copied into Reply-To. Sender authentication
(`connector.senders.verify`) already treats a sender not taken from the From line as not
verified (`Reason.SENDER_NOT_FROM`), so the verdict stays honest without a rule of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from connector.mail.inbound import Address

# "Ann Lee via Support-Users" (Mailman 2.1 and 3, Google Groups, groups.io); Google Groups
# quotes the name: "'Ann Lee' via Support-Users".
_VIA = " via "
_NAME_QUOTES = "'\" \t"
_LIST_EVIDENCE = ("List-Id", "List-Post", "X-Mailman-Version", "Mailing-List")
_LIST_POST_ADDRESS_RE = re.compile(r"<\s*mailto:([^>?\s]+)", re.IGNORECASE)


@dataclass(frozen=True)
class ListAuthor:
    """The author behind a list's rewritten From, and where they were found."""

    author: Address
    list_address: Address
    found_in: str  # the header the author was taken from

    @property
    def note(self) -> str:
        """The trail line: which list rewrote From and whom the message is attributed to."""
        return (
            f"From rewritten by the mailing list {self.list_address}; attributed to "
            f"{self.author} from {self.found_in} (not authenticated: the list's signature "
            "does not vouch for the author)"
        )


def find_list_author(
    sender: Address | None,
    headers: Sequence[tuple[str, str]],
    addresses: Callable[[str], tuple[Address, ...]],
) -> ListAuthor | None:
    """The author of a message whose From a mailing list rewrote, or None.

    `headers` are the decoded header fields; `addresses(name)` parses the addresses of one
    header (asked only for list mail).
    """
    if sender is None:
        return None
    names = {name.lower() for name, _ in headers}
    if not any(evidence.lower() in names for evidence in _LIST_EVIDENCE):
        return None
    via = _via(sender.name)
    list_post = _list_post_address(headers)
    from_is_list = list_post is not None and list_post == sender.address.lower()
    original = addresses("X-Original-From")
    if via is None and not from_is_list and not original:
        return None
    author_name = via[0] if via is not None else ""
    for header in ("X-Original-From", "Reply-To", "Cc"):
        for address in original if header == "X-Original-From" else addresses(header):
            if address.address.lower() in (sender.address.lower(), list_post):
                continue
            # A Cc may hold anyone: only an address under the author's name counts there.
            if header == "Cc" and not (author_name and _same_name(address.name, author_name)):
                continue
            if header == "Reply-To" and via is None:
                continue  # a list's own Reply-To (its owner, a help desk) names no author
            list_name = via[1] if via is not None else ""
            return ListAuthor(address, Address(sender.address, list_name), header)
    return None


def _via(name: str) -> tuple[str, str] | None:
    """("Ann Lee", "Users") of "Ann Lee via Users"; None when the name has no " via "."""
    author, found, list_name = " ".join(name.split()).partition(_VIA)
    author, list_name = author.strip(_NAME_QUOTES), list_name.strip()
    return (author, list_name) if found and author and list_name else None


def _list_post_address(headers: Sequence[tuple[str, str]]) -> str | None:
    for name, value in headers:
        if name.lower() == "list-post":
            match = _LIST_POST_ADDRESS_RE.search(value[:1000])
            return match.group(1).lower() if match else None
    return None


def _same_name(one: str, other: str) -> bool:
    return " ".join(one.casefold().split()) == " ".join(other.casefold().split())
