"""Bounded work on untrusted input: worker processes with a time and memory budget per task.

A message is written by a stranger. Reading it (MIME, charsets, HTML, TNEF, reply extraction,
ADF) is pure Python and C extensions that hold the GIL, so a message that takes a minute to
read would stall every thread of the process: `/healthz`, the admin API and every other
tenant's poll. So each task runs in a separate worker process (pebble's `ProcessPool`, which
kills a worker whose task runs past its timeout and starts a fresh one), with its address
space capped by `RLIMIT_AS` so a message that needs gigabytes fails with `MemoryError` in the
worker instead of swapping the host.

Fairness: one tenant may hold at most `per_tenant` of the workers at once (fewer than all of
them), so a mailbox full of hostile mail slows only its own tenant; the others keep a worker.

Workers are forked from a forkserver that has already imported the reading code: a fresh
worker is ready in milliseconds, and no worker inherits the parent's threads, sockets or
database connections (a plain `fork` of a threaded process can deadlock).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import multiprocessing
import resource
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessPool

from connector import logs

log = logging.getLogger(__name__)

T = TypeVar("T")

# Modules every worker needs; the forkserver imports them once, workers inherit them.
_PRELOAD = ["connector.pipeline.understanding", "connector.outbound.templates"]
MIB = 1024 * 1024


@dataclass(frozen=True)
class Budget:
    """What one task may use. `memory_bytes` caps the worker's whole address space (a fresh
    worker's interpreter and libraries take 50-60 MiB of it), so it is a ceiling, not a
    quota."""

    seconds: float = 20.0
    memory_bytes: int = 1024 * MIB


class ReaderUnavailable(RuntimeError):
    """The worker processes could not be started or all died at once: a fault of this host,
    not of the task, so the task should be tried again later."""


class OverBudget(Exception):
    """The task did not finish within its budget; its worker was replaced.

    `reason` is for people (the email log, the admin): "took longer than 20 s to read".
    """

    def __init__(self, reason: str, *, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # "time", "memory" or "crash"


def _limit_memory(memory_bytes: int) -> None:
    """Worker initializer: cap the address space so a runaway task gets MemoryError."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


class BudgetPool:
    """Runs callables in worker processes within a `Budget`; blocking, thread-safe."""

    def __init__(self, budget: Budget, *, workers: int = 2, per_tenant: int | None = None) -> None:
        if workers < 1:
            raise ValueError("a budget pool needs at least one worker")
        self.budget = budget
        self.workers = workers
        # With one worker there is nobody to be fair to; otherwise leave one for the others.
        self.per_tenant = per_tenant or max(1, workers - 1)
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)
        self._pool: ProcessPool | None = None
        self._slots = threading.Semaphore(workers)
        self._held: Counter[object] = Counter()
        self._fair = threading.Condition()
        self._lock = threading.Lock()

    def _ensure_pool(self) -> ProcessPool:
        with self._lock:
            if self._pool is None or not self._pool.active:
                self._pool = ProcessPool(
                    max_workers=self.workers,
                    initializer=_limit_memory,
                    initargs=(self.budget.memory_bytes,),
                    context=self._context,
                )
            return self._pool

    @contextmanager
    def _tenant_share(self, tenant: object | None) -> Iterator[None]:
        if tenant is None:
            yield
            return
        with self._fair:
            self._fair.wait_for(lambda: self._held[tenant] < self.per_tenant)
            self._held[tenant] += 1
        try:
            yield
        finally:
            with self._fair:
                self._held[tenant] -= 1
                if self._held[tenant] <= 0:
                    del self._held[tenant]
                self._fair.notify_all()

    def run(
        self,
        function: Callable[..., T],
        *args: Any,
        what: str = "read",
        tenant: object | None = None,
        seconds: float | None = None,
    ) -> T:
        """`function(*args)` in a worker. Raises `OverBudget`, or what `function` raised.

        `function` and its arguments and result must pickle; `function` must be importable
        by name (a module-level function). `seconds` tightens the budget's time for this task.
        """
        timeout = self.budget.seconds if seconds is None else min(seconds, self.budget.seconds)
        with self._tenant_share(tenant), self._slots:
            future = self._ensure_pool().schedule(function, args=args, timeout=timeout)
            try:
                return future.result()
            except concurrent.futures.TimeoutError:
                reason = f"took longer than {timeout:g} s to {what}"
                raise OverBudget(reason, kind="time") from None
            except MemoryError:
                reason = f"needed more than {self.budget.memory_bytes // MIB} MiB to {what}"
                raise OverBudget(reason, kind="memory") from None
            except ProcessExpired as exc:
                # Killed from outside (the kernel's OOM killer) or crashed in a C extension.
                logs.event(log, "budget.worker_died", what=what, exitcode=exc.exitcode)
                code = exc.exitcode
                reason = f"crashed its worker process (exit code {code}) while trying to {what}"
                raise OverBudget(reason, kind="crash") from None
            except BrokenProcessPool as exc:
                log.exception("budget.pool_broken what=%s", what)
                self.close()
                raise ReaderUnavailable(f"the worker processes stopped: {exc}") from None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.stop()  # type: ignore[no-untyped-call]
                self._pool.join(timeout=5)
                self._pool = None


_shared: dict[tuple[str, Budget, int], BudgetPool] = {}
_shared_lock = threading.Lock()


def shared_pool(budget: Budget, *, workers: int = 2, purpose: str = "") -> BudgetPool:
    """One pool per purpose and budget for the whole process (the web app, the worker, the
    CLI). Different purposes never share workers, even when an operator gives them the same
    budget: templates must not wait behind mail being read."""
    key = (purpose, budget, workers)
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None:
            pool = _shared[key] = BudgetPool(budget, workers=workers)
        return pool


@atexit.register
def _close_shared() -> None:
    for pool in list(_shared.values()):
        pool.close()
