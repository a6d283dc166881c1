"""What runs the work (polls, deliveries, outbound mail, push watchers), chosen by the database.

- SQLite (the default, `connector serve` alone is the whole product): `connector.scheduler`,
  threads in the one process and leases in the database; no extra service.
- PostgreSQL: `connector.engine.queue`, jobs of procrastinate, a task queue kept in the same
  database, so any number of `connector worker` processes on any number of machines share
  the work (per-mailbox locks, no double enqueue, periodic dispatch, LISTEN/NOTIFY wake-up,
  stalled-job recovery).

Both are a `WorkEngine`: the web app's in-process worker and `connector worker` start
whichever `work_engine` picks and stop it the same way.
"""

from __future__ import annotations

from typing import Protocol

from connector.runtime import Runtime
from connector.storage.db import is_postgresql


class WorkEngine(Protocol):
    owner: str

    def run_forever(self) -> None:
        """Work until `stop` is called (from any thread or a signal handler)."""

    def stop(self) -> None: ...

    def poll_soon(self, source_id: int) -> None:
        """New mail was announced for the source: poll it now rather than at its interval."""

    def wake(self) -> None:
        """Look for marked work now (a Graph notification the web process handled)."""

    def mail_queued(self) -> None:
        """Work outside the engine queued mail to send (the admin's "Poll now" in this
        process): send it now rather than at the outbound round's next tick."""

    def events_recorded(self) -> None:
        """A Jira webhook event was recorded (by the web app in this process): decide it now
        rather than at the outbound round's next tick."""


def uses_task_queue(database_url: str) -> bool:
    return is_postgresql(database_url)


def work_engine(runtime: Runtime, *, push: bool = True) -> WorkEngine:
    """The engine for the runtime's database: the task queue on PostgreSQL, the in-process
    scheduler on SQLite."""
    if uses_task_queue(runtime.settings.database_url):
        from connector.engine.queue import QueueEngine

        return QueueEngine(runtime, push=push, concurrency=runtime.settings.worker_concurrency)
    from connector.scheduler import Scheduler

    return Scheduler(runtime, push=push)
