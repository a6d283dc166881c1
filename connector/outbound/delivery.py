"""What sending reports: each step with its outcome, and one error type that says whether to
try again (a full mailbox or a busy server) or not (a wrong password, a refused address)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol


class SendError(Exception):
    """Sending failed at `step`; the message is safe to show an admin (no secrets)."""

    def __init__(
        self, message: str, *, retryable: bool, step: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.step = step
        self.retry_after = retry_after


@dataclass(frozen=True)
class Step:
    name: str  # resolve | connect | tls | authenticate | send
    ok: bool
    detail: str
    error: str | None = None
    elapsed_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "error": self.error,
            "elapsed_ms": self.elapsed_ms,
        }


@dataclass
class Steps:
    """The steps taken so far; `step()` records one, failed when a `SendError` leaves it."""

    taken: list[Step] = field(default_factory=list)

    @contextmanager
    def step(self, name: str, detail: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        except SendError as exc:
            self.taken.append(Step(name, False, detail, str(exc), _ms(started)))
            raise
        self.taken.append(Step(name, True, detail, None, _ms(started)))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class MailSender(Protocol):
    """One way out (SMTP, Graph). `send` raises `SendError`; `steps` collects what happened."""

    def send(self, message: EmailMessage, steps: Steps | None = None) -> None: ...
