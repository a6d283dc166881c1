"""Workers' loops run from a test, and what the sources list says about push."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from connector.engine import WorkEngine
from tests.integration.admin_support import AdminApi


@contextmanager
def running(*workers: WorkEngine) -> Iterator[None]:
    """Each worker's loop in a thread of its own, stopped (watchers, claims, running jobs and
    all) on the way out."""
    threads = [threading.Thread(target=w.run_forever, daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.stop()
        for thread in threads:
            thread.join(timeout=40)


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def receives(api: AdminApi, source_id: int) -> str:
    """How the mail sources list says the source receives mail."""
    listing = api.call("GET", "/mail-sources").json()["sources"]
    return str(next(s for s in listing if s["id"] == source_id)["receives"])
