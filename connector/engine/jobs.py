"""Queueing a job of the engine: its priorities, a job deferred at most once, and what queues
only the jobs that have none waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar, cast

from procrastinate import App
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job, JobDeferrer
from procrastinate.tasks import Task

T = TypeVar("T")

FRESH = 10  # due sources and announced mail
BACKLOG = 0  # the next batch of a mailbox that had more waiting

# The jobs of these queueing locks that wait in the queue (procrastinate's unique index on
# waiting jobs' queueing locks serves it).
_WAITING = (
    "SELECT queueing_lock FROM procrastinate_jobs"
    " WHERE status = 'todo' AND queueing_lock = ANY(%(locks)s)"
)


# Raise a waiting job to a priority (never lower it): procrastinate keeps the job first queued
# under a queueing lock, at the priority it was queued at.
_RAISE = (
    "UPDATE procrastinate_jobs SET priority = %(priority)s"
    " WHERE status = 'todo' AND queueing_lock = %(queueing_lock)s AND priority < %(priority)s"
)


def configured(
    task: Task[Any, Any, Any],
    lock: str | None,
    queueing_lock: str,
    priority: int,
    delay: float = 0.0,
) -> JobDeferrer:
    """The task with its locks, priority and delay (`delay` seconds from now)."""
    return task.configure(
        lock=lock,
        queueing_lock=queueing_lock,
        priority=priority,
        schedule_in={"milliseconds": int(delay * 1000)} if delay else None,
    )


async def defer_job(
    task: Task[Any, Any, Any],
    lock: str | None,
    queueing_lock: str,
    priority: int,
    delay: float = 0.0,
    **arguments: int,
) -> bool:
    """Queue the job unless one with its queueing lock waits already (then False)."""
    try:
        await configured(task, lock, queueing_lock, priority, delay).defer_async(**arguments)
    except AlreadyEnqueued:
        return False
    return True


async def raise_waiting(task: Task[Any, Any, Any], queueing_lock: str, priority: int) -> None:
    """The job waiting under `queueing_lock`, if any, at `priority` at least. A job being
    run already is left alone (the statement waits for a worker's fetch of it, then finds it
    no longer waiting)."""
    app = cast(App, task.blueprint)
    await app.connector.execute_query_async(_RAISE, queueing_lock=queueing_lock, priority=priority)


async def defer_new(app: App, jobs: list[Job]) -> int:
    """Queue each of `jobs` whose queueing lock has no job waiting; returns how many were
    queued. One query for those waiting and one insert for the rest, rather than an insert
    per job (one whose job still waits, as when the workers fall behind, cost an insert
    that failed). Should one be queued meanwhile (another worker), one by one."""
    if not jobs:
        return 0
    locks = [job.queueing_lock for job in jobs]
    rows = await app.connector.execute_query_all_async(_WAITING, locks=locks)
    waiting = {row["queueing_lock"] for row in rows}
    todo = [job for job in jobs if job.queueing_lock not in waiting]
    if not todo:
        return 0
    try:
        await app.job_manager.batch_defer_jobs_async(todo)
    except AlreadyEnqueued:
        queued = 0
        for job in todo:
            try:
                await app.job_manager.defer_job_async(job)
            except AlreadyEnqueued:
                continue
            queued += 1
        return queued
    return len(todo)


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on the loop's thread pool: a job's blocking work (IMAP, SMTP, Jira,
    the database) leaves the loop free for the other jobs."""
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)
