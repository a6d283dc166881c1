"""What the mail benchmarks share: a Dovecot of their own, and mail of realistic sizes.

`running_dovecot()` starts the server the way the `dovecot` session fixture does
(tests/servers/dovecot.py), for a plain script: a scratch directory on tmpfs when there is one,
the same configuration, stopped and removed at the end.

`realistic_message()` writes the kind of mail a support mailbox receives: plain text with an
HTML alternative about half the time, from ~2 KB to ~50 KB, and now and then a PDF-like
attachment. Everything comes from a seeded `random.Random`, so runs are comparable.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from tests.servers.dovecot import (
    Dovecot,
    MailUser,
    _dovecot_version,
    _scratch_parent,
    find_dovecot,
)

_TEXT = (
    "the printer on the third floor stopped working again after the update this morning and "
    "nobody can print invoices please could you have a look before the end of the day we also "
    "see an error message about the network connection when we try to log in from the office "
    "laptop thanks in advance for your help best regards order number delivery address account "
    "password reset invoice attached screenshot customer support ticket urgent meeting tomorrow"
)
_WORDS = _TEXT.split()


@contextlib.contextmanager
def running_dovecot(*, idle_notify_interval: str = "2 mins") -> Iterator[Dovecot]:
    binary = find_dovecot()
    if binary is None:
        raise SystemExit("Dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d)")
    version = _dovecot_version(binary)
    if not version.startswith("2.3."):
        raise SystemExit(f"the Dovecot test configuration is for 2.3; found {version!r}")
    # Readable by Dovecot's mail account, as in the fixture (not a private temporary folder).
    root = Path(tempfile.mkdtemp(prefix="connector-bench-dovecot-", dir=_scratch_parent()))
    root.chmod(0o755)
    server = Dovecot(binary, root, idle_notify_interval=idle_notify_interval)
    try:
        server.start()
        yield server
    finally:
        server.close()


def deliver_in_chunks(
    dovecot: Dovecot, user: MailUser, raws: Sequence[bytes], *, chunk: int, label: str
) -> float:
    """`Dovecot.deliver_files` in pieces, printing progress; the seconds it took."""
    started = time.perf_counter()
    for offset in range(0, len(raws), chunk):
        dovecot.deliver_files(user, list(raws[offset : offset + chunk]))
        done = min(offset + chunk, len(raws))
        elapsed = time.perf_counter() - started
        print(f"  {label}: {done:,}/{len(raws):,} delivered ({elapsed:.1f} s)", flush=True)
    return time.perf_counter() - started


class MailWriter:
    """Realistic messages from a seed. Lines of text are drawn from a pool made once, which
    keeps writing thousands of messages quick."""

    def __init__(self, seed: int = 20240) -> None:
        self.random = random.Random(seed)
        self._lines = [self._line() for _ in range(512)]

    def _line(self) -> str:
        words: list[str] = []
        length = 0
        while length < 68:
            word = self.random.choice(_WORDS)
            words.append(word)
            length += len(word) + 1
        return " ".join(words).capitalize() + "."

    def body_size(self) -> int:
        """Text size, log-uniform from ~1.2 KB to ~24 KB: most mail is small, some is long."""
        return int(1200 * 20 ** self.random.random())

    def message(
        self,
        *,
        message_id: str,
        sender: str,
        subject: str,
        references: str | None = None,
        attachment: bool | None = None,
    ) -> bytes:
        """One message; `attachment` None means "as often as in real mail" (about 5%)."""
        rng = self.random
        text_lines = rng.choices(self._lines, k=max(1, self.body_size() // 73))
        message = EmailMessage()
        message["From"] = sender
        message["To"] = "Support <support@example.com>"
        message["Subject"] = subject
        sent = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**7))
        message["Date"] = format_datetime(sent)
        message["Message-ID"] = message_id
        if references is not None:
            message["In-Reply-To"] = references
            message["References"] = references
        message.set_content("Hello,\n\n" + "\n".join(text_lines) + "\n\nKind regards\n")
        if rng.random() < 0.5:
            paragraphs = "".join(f"<p>{line}</p>\n" for line in text_lines)
            message.add_alternative(f"<html><body>{paragraphs}</body></html>\n", subtype="html")
        if attachment if attachment is not None else rng.random() < 0.05:
            message.add_attachment(
                rng.randbytes(rng.randrange(8_000, 24_000)),
                maintype="application",
                subtype="pdf",
                filename=f"document-{rng.randrange(1000)}.pdf",
            )
        return message.as_bytes()


def old_message(index: int) -> bytes:
    """A small, cheap message for filling a mailbox with old mail (no MIME library needed)."""
    body = "".join(f"Line {n} of an old message that nobody needs any more.\n" for n in range(30))
    return (
        f"From: Customer {index % 997} <customer{index % 997}@example.com>\n"
        "To: support@example.com\n"
        f"Subject: Old message {index}\n"
        "Date: Mon, 03 Feb 2025 10:00:00 +0000\n"
        f"Message-ID: <old-{index}@example.com>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n" + body
    ).encode()


def describe_sizes(raws: Sequence[bytes]) -> str:
    sizes = sorted(len(raw) for raw in raws)
    with_files = sum(1 for raw in raws if b"application/pdf" in raw)
    return (
        f"{len(sizes):,} messages, {sum(sizes) / 2**20:.1f} MiB: "
        f"min {sizes[0] / 1024:.1f} KB, median {statistics.median(sizes) / 1024:.1f} KB, "
        f"mean {statistics.mean(sizes) / 1024:.1f} KB, max {sizes[-1] / 1024:.1f} KB, "
        f"{with_files} with an attachment"
    )
