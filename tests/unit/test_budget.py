"""Worker processes with a time and memory budget (connector.budget)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from connector.budget import MIB, Budget, BudgetPool, OverBudget


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def _allocate(mib: int) -> int:
    return len(bytearray(mib * MIB))


def _die() -> None:
    os._exit(3)


def _pid() -> int:
    return os.getpid()


def _fail() -> None:
    raise ValueError("the task's own error")


@pytest.fixture
def pool() -> Iterator[BudgetPool]:
    budget = Budget(seconds=1.0, memory_bytes=512 * MIB)
    pool = BudgetPool(budget, workers=2)
    try:
        yield pool
    finally:
        pool.close()


def test_budget_pool_task_within_budget_returns_result(pool: BudgetPool) -> None:
    assert pool.run(_sleep, 0.01) == "slept"
    assert pool.run(_pid) != os.getpid()


def test_budget_pool_task_over_time_raises_and_worker_is_replaced(pool: BudgetPool) -> None:
    started = time.monotonic()
    with pytest.raises(OverBudget) as caught:
        pool.run(_sleep, 30)
    assert caught.value.kind == "time"
    assert caught.value.reason == "took longer than 1 s to read"
    assert time.monotonic() - started < 10  # killed, not waited for
    assert pool.run(_sleep, 0) == "slept"


def test_budget_pool_tighter_seconds_for_one_task_names_them(pool: BudgetPool) -> None:
    with pytest.raises(OverBudget) as caught:
        pool.run(_sleep, 30, seconds=0.2, what="render")
    assert caught.value.reason == "took longer than 0.2 s to render"


def test_budget_pool_task_over_memory_raises_memory_reason(pool: BudgetPool) -> None:
    with pytest.raises(OverBudget) as caught:
        pool.run(_allocate, 1024)
    assert caught.value.kind == "memory"
    assert caught.value.reason == "needed more than 512 MiB to read"
    assert pool.run(_allocate, 16) == 16 * MIB


def test_budget_pool_worker_crash_raises_crash_and_pool_recovers(pool: BudgetPool) -> None:
    with pytest.raises(OverBudget) as caught:
        pool.run(_die)
    assert caught.value.kind == "crash"
    assert "exit code 3" in caught.value.reason
    assert pool.run(_sleep, 0) == "slept"


def test_budget_pool_task_error_reaches_caller_unchanged(pool: BudgetPool) -> None:
    with pytest.raises(ValueError, match="the task's own error"):
        pool.run(_fail)


def test_budget_pool_one_tenant_cannot_take_every_worker() -> None:
    """Tenant 1 keeps two slow tasks going; tenant 2's quick one still runs at once."""
    pool = BudgetPool(Budget(seconds=10), workers=2)
    threads = [threading.Thread(target=lambda: pool.run(_sleep, 2.5, tenant=1)) for _ in range(2)]
    pool.run(_sleep, 0)  # workers up before timing
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert pool.run(_sleep, 0, tenant=2) == "slept"
    quick = time.monotonic() - started
    for thread in threads:
        thread.join()
    pool.close()
    # Had tenant 1 held both workers, tenant 2 would have waited for one to finish (~2.4 s).
    assert quick < 1.5


def test_budget_pool_zero_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        BudgetPool(Budget(), workers=0)
