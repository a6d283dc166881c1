"""What a message must be delivered after, read from its headers alone.

Inline (a poll processes its batch itself, `connector.polling`) a message waits for any
earlier one of the batch it is related to (`order_keys`). Delivered as jobs of their own (the
queue engine) the messages of one thread run one at a time, in the order they were queued,
under one lock (`Threading.lock`), and other threads run in parallel on any worker.

A thread is named by its root: the first Message-ID of References (RFC 5322 §3.6.4: the
thread's first message), else In-Reply-To, else the message's own Message-ID, else its
subject without reply prefixes. Replies whose References lack the root (some clients keep only
the last few) are joined to their parent's thread by the fetch while the parent is still
queued (`connector.storage.deliveries.Deliveries.thread_of`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from connector.pipeline.understanding import HEADER_BLOCK_BYTES
from connector.routing.match import clean_subject, message_id_digest

_HEADERS = BytesHeaderParser()
ORDER_VALUE_CHARS = 4096


class _Values:
    """The message's headers, each value cut at `ORDER_VALUE_CHARS`."""

    def __init__(self, raw: bytes) -> None:
        # This runs in the poll's thread, not in a reader process: only the start of the
        # message is looked at, and each value only so far, so a hostile header costs
        # microseconds.
        self._headers: Message = _HEADERS.parsebytes(raw[:HEADER_BLOCK_BYTES])

    def __call__(self, name: str) -> str:
        return str(self._headers.get(name) or "")[:ORDER_VALUE_CHARS]

    def ids(self, name: str) -> list[str]:
        return [part.strip("<>") for part in self(name).split() if part.strip("<>")]


def order_keys(raw: bytes) -> tuple[set[str], set[str]]:
    """What a message must come after, and what later ones may wait on.

    A message waits for an earlier one in the batch with its own Message-ID (a duplicate),
    one it replies to (In-Reply-To, References), one from the same sender, or one with the
    same subject: so threading, duplicate detection and the per-sender limit see the same
    order as the mailbox. Unrelated messages run in parallel.
    """
    value = _Values(raw)
    own = {f"id:{v}" for v in value.ids("Message-ID")}
    replies_to = {f"id:{v}" for name in ("In-Reply-To", "References") for v in value.ids(name)}
    sender = {f"from:{a.lower()}" for _, a in getaddresses([value("From")]) if a}
    subject = {f"subject:{clean_subject(value('Subject')).lower()}"}
    shared = own | sender | subject
    return shared | replies_to, shared


@dataclass(frozen=True)
class Threading:
    own: str | None  # the message's own Message-ID, without angle brackets
    parents: tuple[str, ...]  # the Message-IDs it replies to: References, then In-Reply-To
    root: str

    def lock(self, tenant_id: int) -> str:
        """The lock its delivery runs under: one per thread and tenant, short and opaque."""
        digest = hashlib.sha256(self.root.encode("utf-8", "surrogatepass")).hexdigest()
        return f"thread-{tenant_id}-{digest[:20]}"

    @property
    def own_digest(self) -> str:
        return message_id_digest(self.own) if self.own else ""

    @property
    def parent_digests(self) -> list[str]:
        return [message_id_digest(parent) for parent in self.parents]


def threading_of(raw: bytes) -> Threading:
    value = _Values(raw)
    own = next(iter(value.ids("Message-ID")), None)
    references, in_reply_to = value.ids("References"), value.ids("In-Reply-To")
    parents = tuple(dict.fromkeys(references + in_reply_to))
    first = next(iter(references + in_reply_to), None) or own
    if first is not None:
        root = f"id:{first}"
    else:
        root = f"subject:{clean_subject(value('Subject')).lower()}"
    return Threading(own, parents, root)
