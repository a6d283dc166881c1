"""What a message says about its people, in Jira's terms: custom-field values and the line
that names the sender of a comment the app writes for them.

Kept apart from `connector.pipeline`, which decides what happens to a message; these only
turn a parsed message into values, so they are easy to test on their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.drafts import JiraPerson
from connector.jira.adf import AUTHOR_LINE_ROOM, serialized_length, text_to_adf
from connector.mail.inbound import Address, InboundEmail
from connector.mail_source import SourcePolicy


@dataclass(frozen=True)
class FieldMap:
    """Custom fields from the tenant settings (`connector.storage.tenant_settings`): the
    sender's name and address (written only for a sender without a Jira account), the Cc
    recipients, and the source's language (`SourcePolicy.language`)."""

    sender_name: str | None = None
    sender_address: str | None = None
    recipients: str | None = None
    language: str | None = None


def custom_field_values(
    email: InboundEmail, person: JiraPerson | None, policy: SourcePolicy, fields: FieldMap
) -> dict[str, Any]:
    """The source's defaults, then what the message fills in: the sender's name and address
    only when they have no Jira account (a Jira user is the reporter instead)."""
    values: dict[str, Any] = dict(policy.field_defaults)
    if person is None and email.sender is not None:
        if fields.sender_name:
            values[fields.sender_name] = email.sender.name or email.sender.address
        if fields.sender_address:
            values[fields.sender_address] = email.sender.address
    if fields.recipients and email.cc:
        values[fields.recipients] = ", ".join(a.address for a in email.cc)
    if fields.language and policy.language:
        values[fields.language] = policy.language
    for mapping in policy.field_mappings:
        value = mapped_value(email, mapping.source)
        if value:
            values[mapping.field_id] = value
    return values


def with_author_line(
    document: Mapping[str, Any],
    email: InboundEmail,
    person: JiraPerson | None,
    *,
    unverified: str | None = None,
    cc: Sequence[Address] | None = None,
) -> dict[str, Any]:
    """The comment or description as the app writes it: its first line says who sent the mail.
    A Jira user is mentioned (so Jira links and notifies them); anyone else is named with their
    address. `unverified`: why the sender's address could not be verified (issue 15); the
    sender is then named with it, never mentioned as the account. `cc`: the people copied
    (default: the message's Cc), named on a second line so agents see who else was told.
    New issues whose reporter is not the sender start with the same lines (issue 18)."""
    sender = email.sender
    if person is not None and unverified is None:
        first = {
            "type": "paragraph",
            "content": [
                {
                    "type": "mention",
                    "attrs": {"id": person.account_id, "text": f"@{person.display_name}"},
                },
                {"type": "text", "text": " wrote by email:"},
            ],
        }
    else:
        # The reason is ours, but bounded all the same so the line always fits its room.
        reason = unverified or ""
        reason = reason if len(reason) <= 160 else f"{reason[:159]}…"
        note = f" (sender not verified: {reason})" if reason else ""
        who = str(sender) if sender else "Unknown sender"
        first = _paragraph(f"{who}{note} wrote by email:")
        while serialized_length(first) > _LINE_ROOM and who:
            who = who[: len(who) * 3 // 4]
            first = _paragraph(f"{who}…{note} wrote by email:")
    copied = tuple(email.cc if cc is None else cc)
    lines = [first]
    if copied:
        lines.append(_cc_line(copied))
    content = list(document.get("content") or [])
    return {"type": "doc", "version": 1, "content": [*lines, *content]}


# Each of the two lines as ADF JSON (addresses become mailto links): together, with the comma
# between them, within AUTHOR_LINE_ROOM, so a text fitted to the rest stays within Jira's limit.
_LINE_ROOM = (AUTHOR_LINE_ROOM - 2) // 2


def _paragraph(text: str) -> dict[str, Any]:
    node: dict[str, Any] = text_to_adf(text)["content"][0]
    return node


def _cc_line(addresses: Sequence[Address]) -> dict[str, Any]:
    """The "Cc:" line: the people, as many as fit, then how many more there are."""
    line = _paragraph(f"Cc: {len(addresses)} people")
    for count in range(1, len(addresses) + 1):
        hidden = len(addresses) - count
        more = f" and {hidden} more" if hidden else ""
        candidate = _paragraph("Cc: " + ", ".join(str(a) for a in addresses[:count]) + more)
        if serialized_length(candidate) > _LINE_ROOM:
            break
        line = candidate
    return line



def mapped_value(email: InboundEmail, source: str) -> str | None:
    """The value of one field-mapping source (`SourcePolicy.field_mappings`), or None."""
    if source == "sender":
        return email.sender.address if email.sender else None
    if source == "sender_name":
        return email.sender.name if email.sender else None
    if source == "recipients":
        return ", ".join(a.address for a in (*email.to, *email.cc)) or None
    if source == "cc":
        return ", ".join(a.address for a in email.cc) or None
    if source == "subject":
        return email.subject or None
    kind, _, name = source.partition(":")
    if kind == "header":
        return email.header(name)
    if kind == "body":
        prefix = name.strip().lower() + ":"
        for line in email.text_body.splitlines():
            if line.strip().lower().startswith(prefix):
                return line.split(":", 1)[1].strip() or None
    return None
