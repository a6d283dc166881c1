"""Benchmark: new mail through the whole path, Dovecot -> poll -> pipeline -> fake Jira.

Run on demand: `uv run python -m tests.benchmarks.pipeline_throughput [--messages N]`
(`--profile` adds a profiled run at 0 ms; `--validate-bodies` keeps the fake's request-body
validation on in the timed runs). Needs Dovecot (as the integration tests do); starts
its own on loopback, the fake Jira in a process of its own (`remote_jira`: real Jira is
elsewhere too, and the fake's request validation would otherwise compete with the code being
measured for the interpreter lock), and the app on loopback in this process, its runtime on a
temporary SQLite database. Prints figures measured in the same run; it asserts nothing (speed
is measured here, never by timed unit tests).

Goal (issue 5): at least 20 messages/second per tenant with 50 ms of latency on every Jira
call, without more requests in flight at Jira than the bound (`PARALLEL_MESSAGES` per poll;
one poll at a time here, as the scheduler runs one per source).

Each run delivers `--messages` new messages to a fresh mailbox (realistic sizes, about 5% with
an attachment, every tenth a reply by References to a message ~100 earlier, a tenth of the
senders with a Jira account) and calls `poll_source(limit=500)` until all are processed:
- with `--latency` (50 ms) on every Jira call, then with none, to show where our own time goes;
- messages per second, Jira calls per message (from the fake's request log, by resource), the
  peak number of requests in flight at the fake (counted around its ASGI app), CPU seconds per
  message here and at the fake, and the peak resident set size of this process (sampled);
- then, under tracemalloc, one poll of up to 500 messages at 0 ms: the peak of Python
  allocations in this process and what was still held afterwards.

The fake checks every request body against Jira's OpenAPI document and the ADF schema, at
~30 ms of CPU per request in its one event loop: that alone caps the path at ~20 messages per
second whatever our code does, so the timed runs switch it off unless `--validate-bodies`
(the resource checks, such as text limits, stay). The memory run keeps it on, so a body Jira
would refuse still shows up as a warning. Both servers listen on sockets made by
`tcp_listener`, without which every request on a kept-alive connection waits 44 ms for a
delayed ACK (see there).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import logging
import os
import pstats
import re
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from cryptography.fernet import Fernet

from connector.app import create_app
from connector.outcomes import Outcome
from connector.polling import BATCH_SIZE, PARALLEL_MESSAGES
from connector.runtime import Runtime
from connector.storage.db import make_engine, migrate
from connector.wiring import poll_source
from tests.benchmarks.mailboxes import MailWriter, describe_sizes, running_dovecot
from tests.benchmarks.remote_jira import JiraHost, remote_jira, tcp_listener
from tests.conftest import make_settings
from tests.fakes.server import LoopbackServer
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.sources import dovecot_spec

POLL_LIMIT = 500
PROJECT = "SUP"
_ISSUE_IN_PATH = re.compile(r"/issue/[^/]+")


@dataclass
class Bench:
    dovecot: Dovecot
    jira: JiraHost
    runtime: Runtime
    tenant_id: int


@dataclass
class RunResult:
    source_id: int
    messages: int
    seconds: float
    polls: int
    outcomes: Counter[str]
    calls: Counter[str]
    statuses: Counter[int]
    peak_in_flight: int
    issues_made: int
    cpu_here: float
    cpu_jira: float
    rss_start: int
    rss_peak: int
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


class RssSampler:
    """The peak resident set size of this process, read from /proc every few milliseconds."""

    def __init__(self, interval: float = 0.02) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.start_bytes = self.peak_bytes = _rss_bytes()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak_bytes = max(self.peak_bytes, _rss_bytes())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, _rss_bytes())


def _rss_bytes() -> int:
    statm = Path("/proc/self/statm")
    if not statm.exists():
        return 0
    return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@contextlib.contextmanager
def running_app(
    keys_url: str, database_url: str, authorization_server_url: str
) -> Iterator[tuple[str, Runtime]]:
    """The app on loopback as tests/integration/conftest.py's `running_app` builds it (with a
    TCP_NODELAY-capable socket, see `tcp_listener`)."""
    sock = tcp_listener()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(
        base_url=base_url,
        database_url=database_url,
        encryption_key=Fernet.generate_key().decode("ascii"),
        keys_url=keys_url,
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    runtime = Runtime.create(
        settings, engine=engine, authorization_server_url=authorization_server_url
    )
    server = LoopbackServer(
        create_app(settings, runtime=runtime, migrate_on_start=False),
        name="connector-app",
        sock=sock,
    )
    server.start()
    try:
        yield base_url, runtime
    finally:
        server.stop()
        engine.dispose()


def _mail(bench: Bench, tag: str, count: int) -> list[bytes]:
    """New mail from many senders; every tenth message replies to one ~100 messages earlier
    (so it threads onto an issue an earlier batch made); a tenth of senders are Jira users."""
    writer = MailWriter(seed=sum(tag.encode()))
    senders = max(1, 3 * count // 5)
    bench.jira.add_users(
        [
            (f"acc-{tag}-{n}", f"customer{n}@{tag}.example", f"Customer {n}")
            for n in range(0, senders, 10)
        ]
    )
    raws: list[bytes] = []
    subjects: list[str] = []
    for index in range(count):
        number = writer.random.randrange(senders)
        subject = f"Order {tag}-{index}: the delivery has not arrived"
        references = None
        if index % 10 == 9 and index >= 100:
            target = index - 99
            subject = f"Re: {subjects[target]}"
            references = f"<{tag}-{target}@customer.example>"
        subjects.append(subject)
        raws.append(
            writer.message(
                message_id=f"<{tag}-{index}@customer.example>",
                sender=f"Customer {number} <customer{number}@{tag}.example>",
                subject=subject,
                references=references,
            )
        )
    return raws


def _new_source(bench: Bench, tag: str) -> tuple[int, MailUser]:
    user = bench.dovecot.new_user(f"bench-{tag}")
    spec = dovecot_spec(
        bench.dovecot, user, name=f"Benchmark {tag}", project_key=PROJECT, timeout_seconds=30
    )
    source = bench.runtime.sources.create(bench.tenant_id, spec)
    bench.runtime.sources.set_enabled(bench.tenant_id, source.id, True)
    first = poll_source(bench.runtime, source.id, owner="benchmark")
    if not first.ok or first.counts:
        raise RuntimeError(f"the first poll should only set the baseline: {first}")
    return source.id, user


def prepare(bench: Bench, tag: str, count: int, *, verbose: bool = True) -> int:
    """A fresh source whose mailbox holds `count` new messages; the source's id."""
    source_id, user = _new_source(bench, tag)
    raws = _mail(bench, tag, count)
    if verbose:
        print(f"  mail: {describe_sizes(raws)}", flush=True)
    bench.dovecot.deliver_files(user, raws)
    return source_id


def poll_all(
    bench: Bench,
    source_id: int,
    count: int,
    latency: float,
    *,
    validate: bool = False,
    verbose: bool = True,
) -> RunResult:
    """Poll until `count` messages are processed (or a poll fails or finds nothing)."""
    jira = bench.jira
    jira.validate_bodies(validate)
    jira.clear_faults()
    if latency > 0:
        jira.inject_delay(latency, 10**9)
    log_start = jira.requests_logged()
    issues_before = jira.issue_count()
    jira.reset_peak()
    jira_cpu = jira.cpu_seconds()
    outcomes: Counter[str] = Counter()
    problems: list[str] = []
    polls = 0
    with RssSampler() as rss:
        cpu = _cpu_seconds()
        started = time.perf_counter()
        while sum(outcomes.values()) < count and polls < count // POLL_LIMIT + 10:
            polls += 1
            poll_started = time.perf_counter()
            result = poll_source(bench.runtime, source_id, owner="benchmark", limit=POLL_LIMIT)
            outcomes.update(result.counts)
            if verbose:
                seconds = time.perf_counter() - poll_started
                print(f"    poll {polls}: {result.message} ({seconds:.1f} s)", flush=True)
            if not result.ok:
                problems.append(f"poll {polls} failed: {result.message}")
                break
            if not result.counts:
                problems.append(f"poll {polls} found nothing new with messages unprocessed")
                break
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu
    jira.clear_faults()

    requests = jira.requests_since(log_start)
    return RunResult(
        source_id=source_id,
        messages=sum(outcomes.values()),
        seconds=seconds,
        polls=polls,
        outcomes=outcomes,
        calls=Counter(
            f"{method} {_ISSUE_IN_PATH.sub('/issue/{key}', path)}" for method, path, _ in requests
        ),
        statuses=Counter(status for _, _, status in requests),
        peak_in_flight=jira.peak_in_flight(),
        issues_made=jira.issue_count() - issues_before,
        cpu_here=cpu,
        cpu_jira=jira.cpu_seconds() - jira_cpu,
        rss_start=rss.start_bytes,
        rss_peak=rss.peak_bytes,
        problems=problems,
    )


def run(
    bench: Bench,
    tag: str,
    count: int,
    latency: float,
    *,
    validate: bool = False,
    verbose: bool = True,
) -> RunResult:
    source_id = prepare(bench, tag, count, verbose=verbose)
    result = poll_all(bench, source_id, count, latency, validate=validate, verbose=verbose)
    explain(bench, result)
    return result


def explain(bench: Bench, result: RunResult) -> None:
    """Add why messages were not delivered, and bodies the fake refused, to the problems."""
    unfinished = {k: v for k, v in result.outcomes.items() if k in {"pending", "failed"}}
    if unfinished:
        result.problems.append(f"not delivered: {unfinished}")
        reasons: Counter[str] = Counter()
        for outcome in unfinished:
            entries = bench.runtime.email_log.search(
                bench.tenant_id, source_id=result.source_id, outcome=Outcome(outcome), limit=1000
            )
            reasons.update(entry.reason for entry in entries)
        result.problems += [f"{n} x {reason}" for reason, n in reasons.most_common(3)]
    result.problems += [f"the fake Jira refused: {f}" for f in bench.jira.validation_failures()[:3]]


def report(label: str, result: RunResult) -> None:
    messages = max(result.messages, 1)
    total_calls = sum(result.calls.values())
    print(f"  {label}: {result.messages:,} messages, {result.seconds:.1f} s, {result.polls} polls")
    print(
        f"    {result.rate:6.1f} messages/second; {total_calls / messages:.2f} Jira calls per "
        f"message ({total_calls:,} calls); outcomes {dict(result.outcomes)}; "
        f"{result.issues_made:,} issues made"
    )
    print(
        f"    peak requests in flight at Jira: {result.peak_in_flight} (bound: "
        f"PARALLEL_MESSAGES = {PARALLEL_MESSAGES} per poll); CPU per message: "
        f"{result.cpu_here / messages * 1000:.1f} ms here, "
        f"{result.cpu_jira / messages * 1000:.1f} ms in the fake Jira's process"
    )
    print(
        f"    peak RSS of this process {result.rss_peak / 2**20:.0f} MiB "
        f"(+{(result.rss_peak - result.rss_start) / 2**20:.0f} MiB over the start of the run)"
    )
    by_resource = ", ".join(
        f"{name} {number / messages:.2f}" for name, number in result.calls.most_common()
    )
    print(f"    calls per message by resource: {by_resource}")
    odd = {status: n for status, n in result.statuses.items() if status >= 300}
    if odd:
        print(f"    non-2xx answers from Jira: {odd}")
    for problem in result.problems:
        print(f"    WARNING: {problem}")


def measure_memory(bench: Bench, count: int) -> None:
    """One poll's worth under tracemalloc (which slows Python down: not timed). The mail is
    written and delivered before tracing starts, so only the poll's allocations count."""
    source_id = prepare(bench, "memory", count, verbose=False)
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    result = poll_all(bench, source_id, count, 0.0, validate=True, verbose=False)
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    explain(bench, result)
    print(
        f"  tracemalloc, {result.messages:,} messages at 0 ms in {result.polls} poll(s), the "
        f"fake's body validation on: peak {(peak - before) / 2**20:.1f} MiB of Python "
        f"allocations above the start, {(after - before) / 2**20:.1f} MiB still held afterwards"
    )
    for problem in result.problems:
        print(f"    WARNING: {problem}")


@contextlib.contextmanager
def _profiling_all_threads() -> Iterator[list[cProfile.Profile]]:
    """cProfile in this thread and in every thread started meanwhile (the poll's workers):
    `threading.setprofile` runs a hook first thing in each new thread, which enables a
    profiler of its own there."""
    profiles = [cProfile.Profile()]

    def start_in_thread(_frame: FrameType, _event: str, _arg: Any) -> None:
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()

    threading.setprofile(start_in_thread)
    profiles[0].enable()
    try:
        yield profiles
    finally:
        profiles[0].disable()
        threading.setprofile(None)


def profile_run(bench: Bench, count: int) -> None:
    """A 0 ms run under cProfile: wall time by function, summed over the poll's threads."""
    source_id = prepare(bench, "profile", count, verbose=False)
    with _profiling_all_threads() as profiles:
        result = poll_all(bench, source_id, count, 0.0, verbose=False)
    stats = pstats.Stats(profiles[0], stream=sys.stdout)
    for profile in profiles[1:]:
        stats.add(profile)
    print(
        f"  cProfile, {result.messages:,} messages at 0 ms in {result.seconds:.1f} s "
        "(profiled: slower), time summed over the main thread and the message workers:"
    )
    stats.sort_stats("cumulative").print_stats(r"connector/", 30)
    stats.sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per Jira call")
    parser.add_argument("--memory-messages", type=int, default=POLL_LIMIT)
    parser.add_argument("--profile", action="store_true", help="add a profiled run at 0 ms")
    parser.add_argument(
        "--validate-bodies", action="store_true", help="the fake validates bodies in timed runs"
    )
    args = parser.parse_args()
    # Each poll's connection warns that certificate checks are off (Dovecot's certificate is
    # self-signed); a line per poll would drown the figures.
    logging.getLogger("connector.sources").setLevel(logging.ERROR)

    with (
        tempfile.TemporaryDirectory(prefix="connector-bench-") as folder,
        remote_jira() as jira,
        running_dovecot() as dovecot,
        running_app(
            jira.install_keys_url(),
            f"sqlite:///{folder}/connector.db",
            jira.authorization_server_url(),
        ) as (base_url, runtime),
    ):
        status, text = jira.install(base_url)
        if status != 204:
            raise SystemExit(f"install failed: {status} {text}")
        jira.add_project(PROJECT, "Support", ("Task", "Bug"))
        tenant = runtime.tenants.get(jira.client_key())
        if tenant is None:
            raise SystemExit("the install did not create a tenant")
        bench = Bench(dovecot, jira, runtime, tenant.id)
        print(
            f"pipeline: {args.messages:,} new messages per run, polls of {POLL_LIMIT}, "
            f"batches of {BATCH_SIZE}, {PARALLEL_MESSAGES} messages in parallel per poll, "
            "SQLite, one tenant; the fake's body validation "
            + ("on" if args.validate_bodies else "off in the timed runs"),
            flush=True,
        )
        results = []
        for tag, latency in (("slow", args.latency), ("fast", 0.0)):
            label = f"{latency * 1000:.0f} ms per Jira call"
            print(f"run with {label}:", flush=True)
            result = run(bench, tag, args.messages, latency, validate=args.validate_bodies)
            results.append((label, result))
        print("results:")
        for label, result in results:
            report(label, result)
        (_, slow), (_, fast) = results
        print(
            f"  goal at {args.latency * 1000:.0f} ms: >= 20 messages/second: "
            f"{slow.rate >= 20} ({slow.rate:.1f}); within the bound: "
            f"{slow.peak_in_flight <= PARALLEL_MESSAGES} "
            f"({slow.peak_in_flight} <= {PARALLEL_MESSAGES})"
        )
        print(
            f"  at 0 ms: {1000 / fast.rate:.1f} ms of wall time per message and "
            f"{fast.cpu_here / max(fast.messages, 1) * 1000:.1f} ms of CPU in this process "
            "(all its threads); "
            f"ratio 0 ms / {args.latency * 1000:.0f} ms throughput: {fast.rate / slow.rate:.2f}x"
        )
        measure_memory(bench, min(args.memory_messages, args.messages))
        if args.profile:
            profile_run(bench, min(args.memory_messages, args.messages))


if __name__ == "__main__":
    main()
