"""Queueing a job of the engine: its priorities, and a job deferred at most once."""

from __future__ import annotations

from typing import Any

from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import JobDeferrer
from procrastinate.tasks import Task

FRESH = 10  # due sources and announced mail
BACKLOG = 0  # the next batch of a mailbox that had more waiting


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
