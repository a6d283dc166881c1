"""A poll's hold on its source: a short lease in the database, renewed by a heartbeat thread
while the poll runs and given up with the poll's record, so that one poll of a mailbox runs at
a time and a dead worker's sources are free again within a minute."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import datetime

from connector.runtime import Runtime

log = logging.getLogger("connector.polling")

# A poll holds its source under a short lease that a thread renews while the poll runs
# (every quarter of it), so a worker that dies frees its sources within a minute; a poll
# that merely takes long keeps its source.
LEASE_SECONDS = 40.0


class SourceLease:
    """A poll's hold on its source: renewed while the poll runs, given up with the poll's
    record in one statement (or alone, when the poll ended without one). A lock keeps a
    renewal from taking the source again after it was given up."""

    def __init__(self, runtime: Runtime, source_id: int, owner: str, seconds: float) -> None:
        self._runtime = runtime
        self.source_id = source_id
        self._owner = owner
        self.seconds = seconds
        self._lock = threading.Lock()
        self._held = True

    def renew(self) -> None:
        with self._lock:
            if self._held:
                self._runtime.sources.lease(self.source_id, self._owner, self.seconds)

    def record_poll(
        self,
        *,
        ok: bool,
        message: str,
        next_poll_at: datetime,
        first_connected_at: datetime | None = None,
    ) -> None:
        """`SourceRepository.record_poll`, giving the lease up in the same statement."""
        with self._lock:
            self._runtime.sources.record_poll(
                self.source_id,
                ok=ok,
                message=message,
                next_poll_at=next_poll_at,
                first_connected_at=first_connected_at,
                release=self._owner,
            )
            self._held = False

    def give_up(self) -> None:
        with self._lock:
            if self._held:
                self._runtime.sources.release(self.source_id, self._owner)
                self._held = False


@contextlib.contextmanager
def lease_kept(lease: SourceLease) -> Iterator[None]:
    """Renew the source's lease every quarter of it until the block ends (the heartbeat)."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lease.seconds / 4):
            try:
                lease.renew()
            except Exception:  # a database hiccup: the next beat tries again
                log.warning("poll.lease_renewal_failed source_id=%s", lease.source_id)

    beat = threading.Thread(target=renew, name=f"lease-{lease.source_id}", daemon=True)
    beat.start()
    try:
        yield
    finally:
        done.set()
        beat.join()
