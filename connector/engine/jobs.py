"""Queueing a job of the engine: its priorities, a job deferred at most once, and a job that
gives way (ends now and runs again shortly, in its place)."""

from __future__ import annotations

import logging
import random
from typing import Any

from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job, JobDeferrer
from procrastinate.retry import BaseRetryStrategy, RetryDecision
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


# A job that gave way runs again after a pause picked at random in this range (seconds): long
# enough for one of a busy site's requests to end, spread so the jobs that gave way together
# do not come back together.
GIVE_WAY_SECONDS = (0.25, 0.75)


class SiteCrowded(Exception):
    """The job's Jira site has every request slot held: the job gives way (`GiveWay`)."""


class GiveWay(BaseRetryStrategy):
    """A job that raised `SiteCrowded` runs again shortly as the same job. Unlike a job queued
    anew, it keeps its number, so it stays ahead of the later jobs of its lock (a thread's
    mail keeps its order) and of its priority (it is not overtaken by mail that came after)."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if not isinstance(exception, SiteCrowded):
            return None
        pause = random.uniform(*GIVE_WAY_SECONDS)  # noqa: S311 - spreading, not security
        return RetryDecision(retry_in={"milliseconds": int(pause * 1000)})


class QuietGiveWay(logging.Filter):
    """procrastinate logs each job ended by an exception with its traceback, at INFO when it
    is to be retried: a job giving way is routine, so it is logged only at DEBUG, without
    one."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = record.exc_info[1] if record.exc_info else None
        if not isinstance(found, SiteCrowded):
            return True
        record.exc_info = None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
