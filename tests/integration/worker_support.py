"""The worker's loop run from a test, and what the sources list says about push."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from connector.scheduler import Scheduler
from tests.integration.admin_support import AdminApi


@contextmanager
def running(worker: Scheduler) -> Iterator[None]:
    """The worker's loop in a thread, stopped (watchers, claims and all) on the way out."""
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        worker.stop()
        thread.join(timeout=30)


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
