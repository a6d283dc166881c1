"""How many attachments one message may carry, and what happens to the rest.

A message can hold any number of files: a 1.7 MB message held 9,999 MIME parts and an 8 MB
`winmail.dat` 100,000 members, and each would have become an upload to Jira. So the parser
keeps files in message order while they fit `AttachmentLimits` (a count and a total of
bytes) and only counts the others, naming the first few (`LeftOut`): it neither hashes nor
keeps their content, and a TNEF stream is not even unpacked past the limit (tnef.py). The
whole message then travels as `original-message.eml` (`original_attachment`), so nothing
the sender sent is lost, and the description or comment says what was not added one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.mail.inbound import NOTHING_LEFT_OUT, LeftOut, MailAttachment

ORIGINAL_FILENAME = "original-message.eml"
MIB = 1024 * 1024
DEFAULT_MAX_ATTACHMENTS = 100
# Jira Cloud takes files up to 1 GB each by default (2 GB at most, per site), so the
# per-file limit never decides here; what does is the 25 MB default message size limit of a
# source (sources/config.py). A message's files are parts of it, no larger once decoded
# (a winmail.dat kept beside what it unpacked counts twice), so 50 MiB never cuts a message
# a source lets through by default, while a source whose size limit was raised (up to
# 1 GiB) cannot turn one message into a gigabyte of separate uploads.
DEFAULT_MAX_ATTACHMENT_BYTES = 50 * MIB
MAX_LISTED = 25  # files named one by one in the note; the rest are counted


@dataclass(frozen=True)
class AttachmentLimits:
    """Per message: at most `count` files, together at most `total_bytes` bytes."""

    count: int = DEFAULT_MAX_ATTACHMENTS
    total_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES


DEFAULT_LIMITS = AttachmentLimits()


class Allowance:
    """What is left of the limits while one message is read, and what went over them."""

    def __init__(self, limits: AttachmentLimits) -> None:
        self.limits = limits
        self.kept = 0
        self.kept_bytes = 0
        self._left_count = 0
        self._left_bytes = 0
        self._listed: list[tuple[str, int]] = []

    @property
    def remaining(self) -> int:
        """Files that may still be kept, by count alone."""
        return max(0, self.limits.count - self.kept)

    def admit(self, name: str, size: int) -> bool:
        """Keep this file (True) or count it as left out (False). Files keep message order:
        one too large for the bytes left does not stop smaller ones after it."""
        if self.kept < self.limits.count and self.kept_bytes + size <= self.limits.total_bytes:
            self.kept += 1
            self.kept_bytes += size
            return True
        self.leave_out(1, size, [(name, size)])
        return False

    def leave_out(self, count: int, size: int, named: list[tuple[str, int]]) -> None:
        """Count `count` files of `size` bytes in all; `named` may list only some of them."""
        self._left_count += count
        self._left_bytes += size
        self._listed += named[: MAX_LISTED - len(self._listed)]

    def left_out(self) -> LeftOut:
        if not self._left_count:
            return NOTHING_LEFT_OUT
        return LeftOut(self._left_count, self._left_bytes, tuple(self._listed))


def original_attachment(raw: bytes) -> MailAttachment:
    """The whole message as a file: what carries everything that was not read or kept."""
    return MailAttachment.of(ORIGINAL_FILENAME, "message/rfc822", raw)
