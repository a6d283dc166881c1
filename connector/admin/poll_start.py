"""Where "Poll now" runs: the admin's request starts a poll and is answered at once (202).

A poll of a full mailbox takes longer than proxies hold a request open, so the admin API never
waits for one. `connector serve` polls in its own process: the poll runs on a thread of the web
process (`PollInBackground`). The Procfile's split leaves polling to `connector worker`: the web
process only marks the source (`RequestForWorker`), and a worker's scheduler starts the poll on
its next tick. Either way the source says "requested" until the poll takes its lease, then
"running" with its figures so far (`connector.storage.poll_runs`), which the list follows.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from connector.runtime import Runtime
from connector.storage.poll_runs import drop_request, request_poll
from connector.wiring import poll_source

log = logging.getLogger(__name__)

# Polls the web process runs at once for admins; more wait their turn in the pool's queue.
BACKGROUND_POLLS = 2


class PollStarter(Protocol):
    def start(self, runtime: Runtime, source_id: int) -> None:
        """Start a poll of the source, or have one started; returns at once."""
        ...

    def shutdown(self) -> None: ...


class RequestForWorker:
    """A web process that does not poll: a worker's scheduler picks the request up."""

    def start(self, runtime: Runtime, source_id: int) -> None:
        request_poll(runtime.engine, source_id)

    def shutdown(self) -> None:
        pass


class PollInBackground:
    """A web process that polls too (`connector serve`): the poll runs on a thread here.
    `mail_queued`: called when a poll queued mail to send (a new issue's acknowledgement), so
    that it leaves at once (`WorkEngine.mail_queued`) rather than at the round's next tick."""

    def __init__(
        self,
        max_workers: int = BACKGROUND_POLLS,
        mail_queued: Callable[[], None] | None = None,
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="admin-poll")
        self._mail_queued = mail_queued

    def start(self, runtime: Runtime, source_id: int) -> None:
        # Marked first, so the list says "requested" until the thread has the lease; a
        # scheduler in this process that sees the mark meanwhile finds the lease taken.
        request_poll(runtime.engine, source_id)
        self._pool.submit(self._run, runtime, source_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, runtime: Runtime, source_id: int) -> None:
        # An owner of its own: two clicks are two polls the lease keeps apart, not one owner
        # that would win the lease twice.
        owner = f"admin-{uuid.uuid4().hex[:12]}"
        try:
            result = poll_source(runtime, source_id, owner=owner, mail_queued=self._mail_queued)
            if result.skipped:  # another poll holds the lease: the admin follows that one
                drop_request(runtime.engine, source_id)
        except Exception:  # the thread has no one to answer to: the log keeps the traceback
            log.exception("admin.poll_crashed source_id=%s", source_id)
