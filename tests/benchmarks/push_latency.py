"""Benchmark: how soon new mail becomes a Jira issue with push (IMAP IDLE) and with polling.

Run on demand: `uv run python -m tests.benchmarks.push_latency [--messages N] [--seconds S]`.
Needs Dovecot; starts its own on loopback, the fake Jira in this process (every call held
`--latency`, 50 ms by default) and the app with the worker's scheduler (`push=True`, ticking
every 5 s as in production) on a temporary SQLite database. Half the sources have push on,
half have it off and are polled every minute; `--messages` messages are delivered at random
moments over `--seconds`, each to a random source. Prints, per kind, the latency from the
moment Dovecot accepted the message (its delivery returned) to the moment the issue exists at
the fake Jira (its issue list is sampled every 20 ms, so figures are up to 20 ms late):
median, p95 and max. It asserts nothing. Goal (issue 16): with push, median under 2 s and p95
under 5 s. Measured (50 messages over 120 s, 6 sources of one tenant, 2 cores shared with
other work): push median 0.69 s, p95 4.46 s, max 6.5 s; polling every minute median 32 s,
p95 56 s. The push tail is mail that came while its source was being polled (one more poll
follows) or while the tenant's two poll slots were taken by safety polls.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from connector.runtime import Runtime
from connector.scheduler import Scheduler
from connector.wiring import poll_source
from tests.benchmarks.mailboxes import running_dovecot
from tests.benchmarks.pipeline_throughput import running_app
from tests.fakes.jira import FakeJira
from tests.integration.mailbox_support import mail
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.sources import dovecot_spec

PROJECT = "SUP"


class IssueClock:
    """When each issue first showed up at the fake Jira, by summary (sampled)."""

    def __init__(self, jira: FakeJira, every: float = 0.02) -> None:
        self._jira = jira
        self._every = every
        self._known: set[str] = set()
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="issue-clock", daemon=True)

    @contextmanager
    def running(self) -> Iterator[IssueClock]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            now = time.monotonic()
            for key in set(self._jira.issue_keys()) - self._known:
                self._known.add(key)
                issue = self._jira.issue(key)
                if issue is not None:
                    self.seen[str(issue["fields"]["summary"])] = now


def _source(
    runtime: Runtime, tenant_id: int, dovecot: Dovecot, *, push: bool, n: int
) -> tuple[int, MailUser]:
    user = dovecot.new_user(f"latency-{n}")
    spec = dovecot_spec(
        dovecot, user, name=f"Latency {n}", project_key=PROJECT, interval_minutes=1, push=push
    )
    source = runtime.sources.create(tenant_id, spec)
    runtime.sources.set_enabled(tenant_id, source.id, True)
    if poll_source(runtime, source.id, owner="benchmark").counts:
        raise RuntimeError("the first poll should only set the baseline")
    return source.id, user


def _figures(label: str, latencies: list[float], missing: int) -> None:
    if not latencies:
        print(f"{label}: no issue arrived ({missing} missing)")
        return
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(
        f"{label}: {len(ordered)} messages, median {statistics.median(ordered):.2f} s, "
        f"p95 {p95:.2f} s, max {ordered[-1]:.2f} s"
        + (f", {missing} never arrived" if missing else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=60, help="in all, both kinds")
    parser.add_argument("--sources", type=int, default=6, help="in all; half push, half poll")
    parser.add_argument("--seconds", type=float, default=150.0, help="delivery spread")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per Jira call")
    args = parser.parse_args()
    logging.getLogger("connector").setLevel(logging.ERROR)  # a line per poll drowns figures
    rng = random.Random(16)

    with (
        tempfile.TemporaryDirectory(prefix="connector-bench-") as folder,
        FakeJira(app_key="mail-connector") as jira,
        running_dovecot() as dovecot,
        running_app(
            jira.install_keys_url, f"sqlite:///{folder}/connector.db", jira.authorization_server_url
        ) as (base_url, runtime),
    ):
        if jira.install(base_url).status_code != 204:
            raise SystemExit("install failed")
        jira.add_project(PROJECT, "Support", issue_types=("Task",))
        tenant = runtime.tenants.get(jira.client_key)
        if tenant is None:
            raise SystemExit("the install did not create a tenant")
        sources = [
            (push, *_source(runtime, tenant.id, dovecot, push=push, n=n))
            for n, push in enumerate([True, False] * (args.sources // 2))
        ]
        jira.inject_delay(args.latency, times=10**9)
        scheduler = Scheduler(runtime, push=True)
        worker = threading.Thread(target=scheduler.run_forever, daemon=True)
        worker.start()
        time.sleep(3)  # the idle connections open
        plan = sorted(rng.uniform(0, args.seconds) for _ in range(args.messages))
        delivered: dict[str, tuple[bool, float]] = {}
        print(
            f"push latency: {args.messages} messages over {args.seconds:.0f} s to "
            f"{len(sources)} sources (half push, half polled every minute), Jira at "
            f"{args.latency * 1000:.0f} ms per call",
            flush=True,
        )
        with IssueClock(jira).running() as clock:
            start = time.monotonic()
            for index, moment in enumerate(plan):
                time.sleep(max(0.0, start + moment - time.monotonic()))
                push, _, user = rng.choice(sources)
                subject = f"Latency {index} ({'push' if push else 'poll'})"
                # A sender each: many messages from one sender would trip loop protection.
                sender = f"Customer {index} <customer{index}@latency.example>"
                dovecot.deliver(user, mail(subject, "Measured.", sender=sender).as_bytes())
                delivered[subject] = (push, time.monotonic())
            deadline = time.monotonic() + 90  # a 1-minute poll with jitter, and its work
            while len(clock.seen) < len(delivered) and time.monotonic() < deadline:
                time.sleep(0.2)
        scheduler.stop()
        worker.join(timeout=30)
        for push in (True, False):
            mine = {s: t for s, (p, t) in delivered.items() if p is push}
            latencies = [clock.seen[s] - t for s, t in mine.items() if s in clock.seen]
            _figures(
                "push (IDLE)" if push else "polling (1 min)", latencies, len(mine) - len(latencies)
            )


if __name__ == "__main__":
    main()
