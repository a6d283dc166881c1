"""What a message says about its people, in Jira's terms: custom-field values and the line
that names the sender of a comment the app writes for them.

Kept apart from `connector.pipeline`, which decides what happens to a message; these only
turn a parsed message into values, so they are easy to test on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.drafts import JiraPerson
from connector.jira.adf import text_to_adf
from connector.mail.inbound import InboundEmail
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
) -> dict[str, Any]:
    """The comment as the app writes it: its first line says who sent the mail. A Jira user is
    mentioned (so Jira links and notifies them); anyone else is named with their address.
    `unverified`: why the sender's address could not be verified (issue 15); the sender is
    then named with it, never mentioned as the account."""
    sender = email.sender
    if person is not None and unverified is None:
        first = {
            "type": "paragraph",
            "content": [
                {
                    "type": "mention",
                    "attrs": {"id": person.account_id, "text": f"@{_bounded(person.display_name)}"},
                },
                {"type": "text", "text": " wrote by email:"},
            ],
        }
    else:
        who = (
            f"{sender.name} <{sender.address}>"
            if sender and sender.name
            else (sender.address if sender else "Unknown sender")
        )
        note = f" (sender not verified: {_bounded(unverified)})" if unverified else ""
        first = text_to_adf(f"{_bounded(who)}{note} wrote by email:")["content"][0]
    content = list(document.get("content") or [])
    return {"type": "doc", "version": 1, "content": [first, *content]}


# The line stays well within the room the body leaves for it
# (`connector.pipeline.understanding.AUTHOR_LINE_ROOM`, 1,024): at most two parts of this
# length (each character at most two in JSON: a quote or a backslash), and the JSON around.
_LINE_PART_CHARS = 200


def _bounded(text: str) -> str:
    return text if len(text) <= _LINE_PART_CHARS else text[: _LINE_PART_CHARS - 1] + "…"


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
