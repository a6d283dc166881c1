"""What an inbound email is to the rest of the engine: frozen values, no MIME objects to walk.

`connector.mail.message.parse_email(raw: bytes) -> InboundEmail` builds these. Pure: no IO.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage


class UnparseableEmail(Exception):
    """The bytes are not an email at all (empty, binary junk, no header block).

    Anything less broken parses, and the problems found are listed in `InboundEmail.defects`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Address:
    """One mailbox: `address` is lower-cased in the domain part only (local parts are
    case-sensitive by RFC 5321, though few servers treat them so); `name` is decoded text."""

    address: str
    name: str = ""

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True)
class MailAttachment:
    """A file carried by the message: a real attachment, an inline image, or a TNEF member."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)
    size: int
    sha256: str
    content_id: str | None = None  # without angle brackets
    inline: bool = False
    from_tnef: bool = False

    @classmethod
    def of(cls, filename: str, content_type: str, content: bytes) -> MailAttachment:
        """A file made here (not read from the message): size and digest from `content`."""
        size, digest = len(content), hashlib.sha256(content).hexdigest()
        return cls(filename, content_type, content, size, digest)


@dataclass(frozen=True)
class LeftOut:
    """Files over the message's attachment limits (`connector.mail.limits`): not carried one
    by one. How many, their bytes, and the first few as (name, size)."""

    count: int = 0
    total_bytes: int = 0
    listed: tuple[tuple[str, int], ...] = ()


NOTHING_LEFT_OUT = LeftOut()


@dataclass(frozen=True)
class InboundEmail:
    sender: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    date: datetime | None
    message_id: str | None  # without angle brackets
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text_body: str  # the plain-text body a client would show ("" if none)
    html_body: str  # the HTML body a client would show ("" if none), unsanitised
    attachments: tuple[MailAttachment, ...]
    forwarded: tuple[InboundEmail, ...]  # message/rfc822 parts, parsed the same way
    # Headers later stages need (Auto-Submitted, Precedence, List-Id, X-Loop, vendor
    # auto-reply headers, Delivered-To, X-Original-To, ...): (name as written, decoded value),
    # in message order, duplicates kept.
    headers: tuple[tuple[str, str], ...]
    defects: tuple[str, ...]  # human-readable problems found while parsing
    size: int  # bytes of the raw message
    # The parsed MIME tree, for the few checks that need structure (DSN / feedback reports).
    # Long base64 bodies are not in it: a marker line stands in for each (mail/structure.py,
    # `set_aside`); their bytes are in `attachments`, or the bodies above. Empty in an
    # `Understanding` that came back from a reader process (`connector.pipeline.reading`):
    # the checks that need the tree have run there.
    message: EmailMessage = field(repr=False, compare=False)
    # Files over the attachment limits; when there are any, `attachments` ends with the whole
    # message as `original-message.eml`, which still holds them.
    left_out: LeftOut = NOTHING_LEFT_OUT
    # A mailing list rewrote From (`connector.mail.lists`): the list's address, and the trail
    # line saying whom `sender` names instead and from which header.
    list_address: Address | None = None
    sender_note: str = ""

    def header(self, name: str) -> str | None:
        """The first header with this name (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_values(self, name: str) -> tuple[str, ...]:
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key.lower() == wanted)
