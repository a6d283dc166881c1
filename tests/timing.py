"""Growth ratios for the tests that check work stays linear in hostile input (issue 12).

Ratios of the best of a few runs, not wall times: CI runs the suite on two shared cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def best_seconds(work: Callable[[], object], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def growth_ratio(work: Callable[[str], object], small: str, large: str) -> float:
    """How many times longer `work(large)` takes than `work(small)` (the small run is taken
    as at least 0.1 ms, so timer noise on a tiny run cannot inflate the ratio)."""
    return best_seconds(lambda: work(large)) / max(best_seconds(lambda: work(small)), 1e-4)
