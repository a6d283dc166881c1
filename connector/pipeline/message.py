"""One message on its way through the pipeline, and the trail it leaves in the email log."""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.mail_source import MailSource
from connector.pipeline.routes import Route, is_own_address
from connector.pipeline.understanding import Understanding
from connector.senders.outcome import SenderAuthentication
from connector.storage.email_log import LogEntry


@dataclass
class Trail:
    """Every step, in words an admin can read, kept with the message's email-log row."""

    steps: list[str] = field(default_factory=list)
    unreadable: str | None = None  # why the message could not be read within its budget

    def add(self, step: str) -> None:
        self.steps.append(step)


@dataclass(frozen=True)
class Message:
    """One message on its way through, with what is known about it so far."""

    source: MailSource
    entry: LogEntry
    understanding: Understanding
    digest: str  # of the Message-ID (or of the bytes when there is none)
    attempt: int
    trail: Trail
    route: Route  # project, issue type and issue defaults chosen by the recipient address
    sender_auth: SenderAuthentication | None = None  # whether From: is authenticated

    def unverified_note(self) -> str:
        """Why the sender is not verified, for the sender line; "" when verified."""
        auth = self.sender_auth
        if auth is None:
            return "not checked"
        return "" if auth.verified or auth.reason is None else auth.reason.text

    def is_ours(self, address: str) -> bool:
        return is_own_address(self.source.spec, address)
