"""Benchmark (issue 17): `connector worker` processes sharing the work on PostgreSQL.

Run on demand: `uv run python -m tests.benchmarks.scale [--sites 5] [--sources-per-site 10]
[--messages 10] [--workers 1,2,4] [--backlog 5000] [--idle-sources 1000] [--idle-seconds 180]
[--drain 5000] [--latency 0.05] [--skip throughput,fairness,idle,drain]`. Needs PostgreSQL
(TEST_POSTGRES_URL, as the tests) and Dovecot; starts its own Dovecot, one fake Jira per site in
a process of its own (`remote_jira`, `--latency` seconds per call, 50 ms unless told), and
the worker processes as `python -m connector.cli worker` (the engine `connector.engine.queue`;
they take the benchmark's environment, so `WORKER_CONCURRENCY=4` sets their jobs at once).
Prints figures and ratios measured in the same run; it asserts nothing.

- Throughput: `--sites` x `--sources-per-site` sources with `--messages` new messages each,
  polled by 1, 2 and 4 workers: messages per second, the ratio to one worker, and the peak
  number of requests in flight at each site (the bound is JIRA_SITE_CONCURRENCY).
- Fairness: one site's source holds a `--backlog` of messages; once one worker is busy with
  it, each other site gets 5 new messages: their delay from delivery to the final log row,
  median and worst, against the same mail with no backlog (its own processing time).
- Idle: `--idle-sources` sources without mail at a 1-minute interval on one worker; every
  2 s, how late the due sources are (now - next_poll_at), after a first minute of warm-up.
- Drain: one mailbox with `--drain` messages, drained by 1 and then by 4 workers (a fresh
  mailbox and source each time): the time and messages per second of each, and their ratio.
  One poll of a mailbox runs at a time, across all workers, so more workers can only help
  between batches (the next batch is queued as the last one ends).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet

from connector.app import create_app
from connector.runtime import Runtime
from connector.storage.db import libpq_url, make_engine, migrate
from connector.storage.times import utc_now
from connector.wiring import poll_source
from tests.benchmarks.mailboxes import MailWriter, running_dovecot
from tests.benchmarks.remote_jira import JiraHost, remote_jira, tcp_listener
from tests.conftest import _postgres_database, make_settings
from tests.fakes.server import LoopbackServer
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.sources import dovecot_spec

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "SUP"
LATENCY = 0.05


@dataclass
class Site:
    jira: JiraHost
    tenant_id: int


@dataclass
class Bench:
    database_url: str
    key: str
    runtime: Runtime
    dovecot: Dovecot
    sites: list[Site]
    base_url: str
    keys_url: str
    latency: float = LATENCY  # seconds the fake Jira takes per call (--latency)
    _connection: psycopg.Connection[Any] | None = None

    @contextlib.contextmanager
    def database(self) -> Iterator[psycopg.Connection[Any]]:
        """One connection for the benchmark's own look-ups: the server's connection slots
        are for the workers."""
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(libpq_url(self.database_url), autocommit=True)
        yield self._connection


def _install(jira: JiraHost, database_url: str, key: str) -> tuple[str, Runtime]:
    """Install the fake site through an app that trusts its install keys (each fake signs
    with keys of its own); all apps share the database and the encryption key."""
    sock = tcp_listener()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(
        base_url=base_url,
        database_url=database_url,
        encryption_key=key,
        keys_url=jira.install_keys_url(),
    )
    runtime = Runtime.create(settings, authorization_server_url=jira.authorization_server_url())
    server = LoopbackServer(
        create_app(settings, runtime=runtime, migrate_on_start=False), name="app", sock=sock
    )
    server.start()
    try:
        status, text = jira.install(base_url)
        if status != 204:
            raise SystemExit(f"install failed: {status} {text}")
    finally:
        server.stop()
    return base_url, runtime


@contextlib.contextmanager
def bench(sites: int) -> Iterator[Bench]:
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(contextlib.contextmanager(_postgres_database)())
        engine = make_engine(database_url)
        migrate(engine)
        engine.dispose()
        key = Fernet.generate_key().decode("ascii")
        dovecot = stack.enter_context(running_dovecot())
        made: list[Site] = []
        base_url = keys_url = ""
        runtime: Runtime | None = None
        for _ in range(sites):
            jira = stack.enter_context(remote_jira())
            jira.validate_bodies(False)  # its ~30 ms of CPU per request is not Jira's time
            jira.add_project(PROJECT, "Support", ("Task", "Bug"))
            base_url, runtime = _install(jira, database_url, key)
            keys_url = jira.install_keys_url()
            tenant = runtime.tenants.get(jira.client_key())
            assert tenant is not None
            made.append(Site(jira, tenant.id))
        assert runtime is not None
        yield Bench(database_url, key, runtime, dovecot, made, base_url, keys_url)


def _source(bench: Bench, site: Site, user: MailUser, name: str, *, baseline: bool) -> int:
    spec = dovecot_spec(bench.dovecot, user, name=name, timeout_seconds=30)
    source = bench.runtime.sources.create(site.tenant_id, spec)
    bench.runtime.sources.set_enabled(site.tenant_id, source.id, True)
    if baseline:
        result = poll_source(bench.runtime, source.id, owner="benchmark")
        assert result.ok, result.message
    return source.id


def _mail(tag: str, count: int) -> list[bytes]:
    writer = MailWriter(seed=sum(tag.encode()))
    return [
        writer.message(
            message_id=f"<{tag}-{n}@customer.example>",
            sender=f"Customer {n} <customer{n}@{tag}.example>",
            subject=f"Order {tag}-{n}",
        )
        for n in range(count)
    ]


def _due_now(bench: Bench, source_ids: list[int]) -> None:
    for source_id in source_ids:
        bench.runtime.sources.record_poll(source_id, ok=True, message="", next_poll_at=utc_now())


def _final(bench: Bench, source_ids: list[int]) -> list[datetime]:
    """When each final log row of these sources was written."""
    with bench.database() as connection:
        rows = connection.execute(
            "SELECT updated_at FROM email_log WHERE source_id = ANY(%s) AND outcome <> 'pending'",
            (source_ids,),
        ).fetchall()
    return [row[0] for row in rows]


@contextlib.contextmanager
def workers(bench: Bench, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BASE_URL": bench.base_url,
        "DATABASE_URL": bench.database_url,
        "ENCRYPTION_KEY": bench.key,
        "CONNECT_INSTALL_KEYS_URL": bench.keys_url,
        "LOG_LEVEL": "WARNING",
    }
    with bench.database() as connection:
        before = connection.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "connector.cli", "--log-level", "ERROR", "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for _ in range(count)
        ]
        wanted = (before[0] if before else 0) + count
        deadline = time.monotonic() + 120
        while True:  # until every worker takes jobs
            row = connection.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
            if row and row[0] >= wanted:
                break
            if time.monotonic() > deadline or any(c.poll() is not None for c in children):
                raise SystemExit("a worker did not start")
            time.sleep(0.2)
    try:
        yield children
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=60)


def throughput(bench: Bench, per_site: int, messages: int, counts: list[int]) -> None:
    print(f"\nthroughput: {len(bench.sites)} sites x {per_site} sources x {messages} messages")
    rates: dict[int, float] = {}
    for count in counts:
        sources: list[int] = []
        for s, site in enumerate(bench.sites):
            for n in range(per_site):
                user = bench.dovecot.new_user(f"t{count}s{s}n{n}-")
                sources.append(_source(bench, site, user, f"w{count}-{s}-{n}", baseline=True))
                bench.dovecot.deliver_files(user, _mail(f"w{count}-{s}-{n}", messages))
        total = len(sources) * messages
        for site in bench.sites:
            site.jira.inject_delay(bench.latency, 10**9)
            site.jira.reset_peak()
        with workers(bench, count):
            started = time.perf_counter()
            _due_now(bench, sources)
            while len(_final(bench, sources)) < total:
                time.sleep(0.5)
            seconds = time.perf_counter() - started
        rates[count] = total / seconds
        peaks = [site.jira.peak_in_flight() for site in bench.sites]
        print(
            f"  {count} worker(s): {total} messages in {seconds:.1f} s = {rates[count]:.1f}/s "
            f"(x{rates[count] / rates[counts[0]]:.2f} of {counts[0]}); peak in flight per "
            f"site {peaks} (bound {bench.runtime.settings.jira_site_concurrency})",
            flush=True,
        )


def _delays(bench: Bench, sources: list[int], delivered: float, expected: int) -> list[float]:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        done = _final(bench, sources)
        if len(done) >= expected:
            return sorted(t.timestamp() - delivered for t in done)
        time.sleep(0.2)
    raise SystemExit(f"the small sites' mail was not processed in time: {len(done)}/{expected}")


def fairness(bench: Bench, backlog: int) -> None:
    big_site, small_sites = bench.sites[0], bench.sites[1:]
    print(
        f"\nfairness: one worker, a backlog of {backlog} on one site, 5 new mails on each of "
        f"{len(small_sites)} others"
    )
    for site in bench.sites:
        site.jira.inject_delay(bench.latency, 10**9)

    def small_mail(tag: str) -> list[float]:
        sources = []
        users = []
        for s, site in enumerate(small_sites):
            user = bench.dovecot.new_user(f"f{tag}{s}-")
            sources.append(_source(bench, site, user, f"small-{tag}-{s}", baseline=True))
            users.append(user)
        delivered = time.time()
        for s, user in enumerate(users):
            bench.dovecot.deliver_files(user, _mail(f"{tag}-{s}", 5))
        _due_now(bench, sources)
        return _delays(bench, sources, delivered, 5 * len(sources))

    with workers(bench, 1):
        small_mail("warm-up")  # a new worker's first mail also starts its reader processes
        alone = small_mail("alone")
        user = bench.dovecot.new_user("backlog-")
        big = _source(bench, big_site, user, "backlog", baseline=True)
        bench.dovecot.deliver_files(user, _mail("backlog", backlog))
        _due_now(bench, [big])
        time.sleep(5)  # the worker is well into the backlog
        busy = small_mail("busy")
        drained = len(_final(bench, [big]))
    for label, delays in (("no backlog", alone), (f"backlog of {backlog}", busy)):
        print(
            f"  {label}: delay from delivery to final log row median "
            f"{statistics.median(delays):.1f} s, worst {max(delays):.1f} s",
            flush=True,
        )
    print(
        f"  worst extra delay: {max(busy) - max(alone):+.1f} s; the backlog had "
        f"{drained} of {backlog} done meanwhile"
    )


def idle(bench: Bench, count: int, seconds: float) -> None:
    print(f"\nidle: {count} sources without mail at a 1-minute interval, one worker")
    users = [bench.dovecot.new_user("idle-") for _ in range(max(1, count // 5))]
    sources = []
    for n in range(count):
        site = bench.sites[n % len(bench.sites)]
        sources.append(_source(bench, site, users[n % len(users)], f"idle-{n}", baseline=False))
    late: list[float] = []
    worst_due = 0
    polls = 0
    seen: dict[int, object] = {}
    with workers(bench, 1) as children, bench.database() as connection:
        started = time.monotonic()
        cpu = _cpu_seconds(children[0].pid)
        while time.monotonic() - started < seconds:
            time.sleep(2)
            rows = connection.execute(
                "SELECT id, last_poll_at, extract(epoch FROM now() - next_poll_at)"
                " FROM mail_sources WHERE id = ANY(%s)",
                (sources,),
            ).fetchall()
            polls += sum(1 for i, last, _ in rows if last and seen.get(i) != last)
            seen.update((i, last) for i, last, _ in rows if last)
            overdue = [float(behind) for _, _, behind in rows if behind and behind > 0]
            if time.monotonic() - started >= 60:  # the first round makes every baseline
                late += overdue
                worst_due = max(worst_due, len(overdue))
        cpu = _cpu_seconds(children[0].pid) - cpu
        wall = time.monotonic() - started
    print(
        f"  after the first minute: at most {worst_due} sources overdue at once; lateness "
        f"of overdue sources median {statistics.median(late) if late else 0:.1f} s, worst "
        f"{max(late) if late else 0:.1f} s\n  {polls} polls (the first ones included) in "
        f"{wall:.0f} s "
        f"({polls / wall:.1f}/s; {count / 60:.1f}/s keeps every source on schedule); the "
        f"worker's CPU {cpu / max(polls, 1) * 1000:.0f} ms per poll, "
        f"{cpu / wall * 100:.0f}% of a core",
        flush=True,
    )


def drain(bench: Bench, count: int, counts: tuple[int, ...] = (1, 4)) -> None:
    print(f"\ndrain: one mailbox with {count} messages, drained by {counts} workers")
    site = bench.sites[0]
    for other in bench.sites:
        other.jira.inject_delay(bench.latency, 10**9)
    rates: dict[int, float] = {}
    for workers_count in counts:
        tag = f"drain{workers_count}"
        user = bench.dovecot.new_user(f"{tag}-")
        source = _source(bench, site, user, tag, baseline=True)
        bench.dovecot.deliver_files(user, _mail(tag, count))
        with workers(bench, workers_count):
            started = time.perf_counter()
            _due_now(bench, [source])
            while len(_final(bench, [source])) < count:
                time.sleep(0.5)
            seconds = time.perf_counter() - started
        rates[workers_count] = count / seconds
        print(
            f"  {workers_count} worker(s): {count} messages in {seconds:.1f} s = "
            f"{rates[workers_count]:.1f}/s (x{rates[workers_count] / rates[counts[0]]:.2f} "
            f"of {counts[0]})",
            flush=True,
        )


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (/proc, Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=5)
    parser.add_argument("--sources-per-site", type=int, default=10)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--idle-sources", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=180)
    parser.add_argument("--drain", type=int, default=5000)
    parser.add_argument(
        "--latency", type=float, default=LATENCY, help="seconds per fake Jira call (0.05)"
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated: throughput,fairness,idle,drain"
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    logging.getLogger("connector.sources").setLevel(logging.ERROR)
    with bench(args.sites) as b:
        b.latency = args.latency
        if "throughput" not in skip:
            counts = [int(n) for n in args.workers.split(",")]
            throughput(b, args.sources_per_site, args.messages, counts)
        if "fairness" not in skip:
            fairness(b, args.backlog)
        if "idle" not in skip:
            idle(b, args.idle_sources, args.idle_seconds)
        if "drain" not in skip:
            drain(b, args.drain)


if __name__ == "__main__":
    main()
