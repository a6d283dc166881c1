"""Small RFC 5322 messages for delivering into test mailboxes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime


def build_message(
    subject: str,
    *,
    body: str = "Hello from the test suite.\n",
    sender: str = "customer@example.com",
    to: str = "support@example.com",
    message_id: str | None = None,
    padding_bytes: int = 0,
    date: datetime | None = None,
) -> bytes:
    """A plain-text message; `padding_bytes` adds that much body text (for size limits)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@test.example.com>"
    text = body + ("x" * 76 + "\n") * (padding_bytes // 77)
    message.set_content(text)
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
