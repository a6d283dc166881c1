"""Fetching and delivering apart: what a fetch hands over, and a delivery's claim on a message.

With the queue engine (`connector.engine.queue`) a poll only fetches: it records each message
in the email log, stores its bytes encrypted (as a retry already needs them), marks it queued
under its thread's lock (`connector.delivery_order`), hands it to a `Handoff` (which queues one
delivery job per message), then moves the cursor on. Deliveries run on any worker, one at a
time per thread; each claims its message first (`claim_kept`), so a message is processed once
however often its job runs. The post-action the mailbox is owed once a message is final is
done by the source's next fetch (`settle_post_actions`), which has the mailbox open.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from connector.delivery_order import threading_of
from connector.mail_source import MailSource
from connector.sources.base import Cursor, ImapCursor, MessageRef
from connector.storage.deliveries import Claimed, Deliveries
from connector.storage.email_log import LogEntry
from connector.storage.times import utc_now

log = logging.getLogger(__name__)

# How long a delivery holds its message without renewing (it renews every quarter of it): a
# dead worker's message is taken again after this.
CLAIM_SECONDS = 40.0


@dataclass(frozen=True)
class Handed:
    """A message queued for delivery: its log row and the lock its delivery runs under ("":
    none). `behind`: its thread has mail queued by an earlier fetch, which it must not
    overtake, so it goes at the lowest priority."""

    entry_id: int
    lock: str
    behind: bool = False


class Handoff(Protocol):
    """Where a fetch hands its messages when delivering them is separate work."""

    def hand(self, source: MailSource, messages: Sequence[Handed]) -> None:
        """Queue a delivery of each message; returns once they are queued."""
        ...

    def requeue(self, source: MailSource) -> int:
        """Queue a delivery of each message of the source whose attempt is due and that has
        none waiting (a retry's time came, a worker died before queueing); how many."""
        ...


def hand_over(
    deliveries: Deliveries, tenant_id: int, taken: Sequence[tuple[LogEntry, bytes | None]]
) -> list[Handed]:
    """Store and mark each message queued, in mailbox order, and say under which lock.

    A reply runs under its parent's lock when the parent is in the same batch or still
    queued from an earlier fetch (its References may lack the thread's root); otherwise
    under its own thread's. A message without bytes was queued before (a fetch cut short
    before it moved the cursor) and is handed again as it was.
    """
    mine: dict[str, str] = {}  # own Message-ID digest -> lock, in this batch
    handed = []
    for entry, raw in taken:
        if raw is None:
            handed.append(Handed(entry.id, entry.thread_key or ""))
            continue
        threading_ = threading_of(raw)
        parents = threading_.parent_digests
        lock = next((mine[digest] for digest in parents if digest in mine), None)
        behind = False
        if lock is None and parents:
            lock = deliveries.thread_of(tenant_id, parents)
            behind = lock is not None
        lock = lock or threading_.lock(tenant_id)
        own = threading_.own_digest
        deliveries.queue(entry.id, raw, thread_key=lock, order_digest=own or None)
        if own:
            mine.setdefault(own, lock)
        handed.append(Handed(entry.id, lock, behind))
    return handed


def settle_post_actions(
    deliveries: Deliveries,
    source: MailSource,
    cursor: Cursor,
    act: Callable[[list[MessageRef], bool], None],
) -> int:
    """Do the post-actions owed for messages delivered since the last fetch; how many.

    The refs are rebuilt from the stored message keys; an IMAP message of a folder recreated
    since (another UIDVALIDITY) is gone, so nothing is owed for it any more."""
    owed = deliveries.owed_post_actions(source.id)
    current = cursor.uidvalidity if isinstance(cursor, ImapCursor) else None
    groups: dict[tuple[bool, str], list[MessageRef]] = {}
    for item in owed:
        ref = MessageRef.from_key(item.message_key, source.spec.protocol)
        if ref.uidvalidity is not None and ref.uidvalidity != current:
            continue
        groups.setdefault((item.success, ref.folder), []).append(ref)
    for (success, _), refs in groups.items():
        act(refs, success)
    deliveries.post_actions_done([item.entry_id for item in owed])
    return len(owed)


@contextlib.contextmanager
def claim_kept(
    deliveries: Deliveries, entry_id: int, seconds: float = CLAIM_SECONDS
) -> Iterator[Claimed | None]:
    """Claim the message (None when it is not to be had), renew the claim every quarter of
    `seconds` while the block runs, and let go after."""
    now = utc_now()
    claimed = deliveries.claim(entry_id, now, now + timedelta(seconds=seconds))
    if claimed is None:
        yield None
        return
    held = [claimed.until]
    done = threading.Event()

    def renew() -> None:
        while not done.wait(seconds / 4):
            until = utc_now() + timedelta(seconds=seconds)
            try:
                if not deliveries.renew(entry_id, held[0], until):
                    return  # it lapsed and was taken: nothing of ours to renew
                held[0] = until
            except Exception:  # a database hiccup: the next beat tries again
                log.warning("delivery.claim_renewal_failed entry_id=%s", entry_id)

    beat = threading.Thread(target=renew, name=f"claim-{entry_id}", daemon=True)
    beat.start()
    try:
        yield claimed
    finally:
        done.set()
        beat.join()
        try:
            deliveries.release(entry_id, held[0])
        except Exception:  # it lapses by itself
            log.warning("delivery.claim_release_failed entry_id=%s", entry_id)
