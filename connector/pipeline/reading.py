"""Reading a message within a budget, in a worker process (`connector.budget`).

The pipeline, `connector preview` and the admin route check read mail through a
`MessageReader`, so no message is parsed in the thread (or the process) that serves HTTP or
other tenants. A message that does not fit the budget is not retried: what can be read cheaply
(its header block) becomes a stand-in whose body says why, and the pipeline attaches the
original, so the customer's mail still reaches Jira.

The pipeline reads a message and checks its sender (`sender_check`) in one task
(`read_and_check`), so the message crosses to a worker once; the others read it
(`MessageReader.understand`) and check its sender (`MessageReader.authenticate`) apart.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from connector import logs
from connector.budget import MIB, Budget, BudgetPool, OverBudget, shared_pool
from connector.mail.limits import ORIGINAL_FILENAME, original_attachment
from connector.pipeline.sender_check import SenderChecking, check_in_worker, not_checked
from connector.pipeline.understanding import (
    HEADER_BLOCK_BYTES,
    Understanding,
    understand_detached,
    understand_headers,
)
from connector.senders.outcome import SenderAuthentication
from connector.settings import ReadingLimits

log = logging.getLogger(__name__)

# The stand-in is a header block and a sentence: a second budget for it need not be long.
HEADERS_SECONDS = 5.0
_NO_HEADERS = b"Subject: (a message that could not be read)\n\n"


def read_and_check(
    read: Callable[..., Understanding],
    check: Callable[..., SenderAuthentication],
    raw: bytes,
    loop_header_value: str | None,
    checking: SenderChecking,
) -> tuple[Understanding, SenderAuthentication | None]:
    """`read(raw, loop_header_value)`, then `check` (`check_in_worker`) on the sender it
    found, in one worker task. Raises what `read` raises. The verdict is None when `check`
    raised (other than `MemoryError`, which is over the budget): the caller checks again on
    its own, where the error ends the message as it would have without this task."""
    understanding = read(raw, loop_header_value)
    sender = understanding.email.sender
    try:
        verdict = check(*checking.arguments(raw, sender.address if sender else None))
    except MemoryError:
        raise
    except Exception:
        return understanding, None
    return understanding, verdict


class MessageReader:
    """`pool=None` reads in this thread with no budget: only for benchmarks' baselines."""

    def __init__(
        self,
        pool: BudgetPool | None,
        *,
        read: Callable[..., Understanding] = understand_detached,
        check: Callable[..., SenderAuthentication] = check_in_worker,
    ) -> None:
        """`read(raw, loop_header_value)` and `check` (the sender check, with the arguments of
        `check_in_worker`) run in the worker: module-level functions."""
        self._pool = pool
        self._read = read
        self._check = check

    def understand(
        self, raw: bytes, *, loop_header_value: str | None = None, tenant: object | None = None
    ) -> Understanding:
        """Raises `UnparseableEmail` (not an email) or `OverBudget` (see `unreadable`)."""
        if self._pool is None:
            return self._read(raw, loop_header_value)
        return self._pool.run(self._read, raw, loop_header_value, tenant=tenant)

    def read_and_check(
        self,
        raw: bytes,
        checking: SenderChecking,
        *,
        loop_header_value: str | None = None,
        tenant: object | None = None,
    ) -> tuple[Understanding, SenderAuthentication | None]:
        """The message read and its sender checked (`read_and_check`) in one task, within one
        budget: its time covers the reading and the check together.

        Raises `UnparseableEmail` (not an email), `OverBudget` (the two together went over
        the budget, whichever of them was slow) or `ReaderUnavailable`. On either of the last
        two the caller goes the separate way, each with a budget of its own: `understand`
        (and `unreadable`), then `authenticate`, so a message merely slow to check is still
        read whole. A None verdict: check again with `authenticate`."""
        if self._pool is None:
            return read_and_check(self._read, self._check, raw, loop_header_value, checking)
        return self._pool.run(
            read_and_check,
            self._read,
            self._check,
            raw,
            loop_header_value,
            checking,
            what="read and check the sender",
            tenant=tenant,
        )

    def authenticate(
        self, arguments: tuple[Any, ...], *, tenant: object | None = None
    ) -> SenderAuthentication:
        """The sender check (`sender_check.check_in_worker(*arguments)`, or the reader's
        `check`) within the budget; a check over it counts as "not verified"."""
        if self._pool is None:
            return self._check(*arguments)
        try:
            return self._pool.run(self._check, *arguments, what="check the sender", tenant=tenant)
        except OverBudget as exc:
            logs.event(log, "reading.sender_check_over_budget", kind=exc.kind)
            return not_checked(f"message not read: it {exc.reason}")

    def unreadable(
        self,
        raw: bytes,
        reason: str,
        *,
        loop_header_value: str | None = None,
        tenant: object | None = None,
    ) -> Understanding:
        """The stand-in for a message that went over budget: its headers (sender, subject,
        Message-ID, threading, auto-reply headers), a body saying what happened, and the
        original attached whole."""
        note = (
            f"This email could not be read within the connector's limits: it {reason}. "
            f"The original message is attached as {ORIGINAL_FILENAME}."
        )
        head = raw[:HEADER_BLOCK_BYTES]
        try:
            if self._pool is None:
                stand_in = understand_headers(head, note, loop_header_value)
            else:
                stand_in = self._pool.run(
                    understand_headers,
                    head,
                    note,
                    loop_header_value,
                    tenant=tenant,
                    seconds=HEADERS_SECONDS,
                )
        except Exception as exc:  # even the header block is hostile: keep nothing of it
            logs.event(log, "reading.headers_unreadable", error=type(exc).__name__)
            stand_in = understand_headers(_NO_HEADERS, note, loop_header_value)
        email = replace(stand_in.email, attachments=(original_attachment(raw),), size=len(raw))
        return replace(stand_in, email=email)


def reader_for(limits: ReadingLimits) -> MessageReader:
    """The process-wide reader for these limits (one pool of workers per process)."""
    budget = Budget(seconds=limits.seconds, memory_bytes=limits.memory_mib * MIB)
    # The attachment limits travel with each task: a partial of a module-level function
    # pickles by name, like the function itself.
    read = functools.partial(understand_detached, limits=limits.attachments)
    return MessageReader(shared_pool(budget, workers=limits.workers), read=read)


__all__ = ["ORIGINAL_FILENAME", "MessageReader", "OverBudget", "reader_for"]
