"""Benchmark: the whole preview path against a bare parse, and memory for a 25 MB attachment.

Run on demand: `uv run python -m tests.benchmarks.preview_speed [--rounds N]`.
Prints figures and ratios measured in the same run; it asserts nothing (DEVELOPERS.md: speed is
measured here, never by timed unit tests). Goals (issue 3): the full path at least 200
messages/second on one core and within 6x of `email.message_from_bytes(policy=default)`; peak
memory for a message with a 25 MB attachment under 4x the message size.

Memory is measured twice: the peak of Python allocations (tracemalloc) while `understand` runs,
here; and the growth of the peak resident set size, in a fresh process that has only read the
message (the operating system's view, allocator overhead included). Both for the message as the
stdlib generator writes it (LF line ends) and as IMAP delivers it (CRLF, RFC 5322 §2.1).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

from connector.budget import MIB, Budget, BudgetPool
from connector.pipeline.reading import MessageReader
from connector.pipeline.understanding import understand
from connector.settings import ReadingLimits
from tests.shared import SHARED_DIR


def _rate(messages: list[bytes], work: Callable[[bytes], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        for raw in messages:
            work(raw)
        best = min(best, time.perf_counter() - started)
    return len(messages) / best


def _bare_parse(raw: bytes) -> object:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _large_message(attachment_bytes: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Ada Lovelace <ada@example.com>"
    message["To"] = "support@example.com"
    message["Subject"] = "Logs from last night"
    message["Message-ID"] = "<large-attachment@example.com>"
    message.set_content("The logs are attached.\n\nAda\n")
    message.add_attachment(
        os.urandom(attachment_bytes),
        maintype="application",
        subtype="octet-stream",
        filename="logs.bin",
    )
    return message.as_bytes()


def _budgeted_rate(messages: list[bytes], rounds: int, workers: int) -> float:
    limits = ReadingLimits()
    budget = Budget(seconds=limits.seconds, memory_bytes=limits.memory_mib * MIB)
    pool = BudgetPool(budget, workers=workers)
    reader = MessageReader(pool)
    try:
        for raw in messages[:workers * 4]:  # start the workers outside the timing
            reader.understand(raw)
        if workers == 1:
            return _rate(messages, reader.understand, rounds)
        best = float("inf")
        with ThreadPoolExecutor(max_workers=workers) as threads:
            for _ in range(rounds):
                started = time.perf_counter()
                list(threads.map(reader.understand, messages))
                best = min(best, time.perf_counter() - started)
        return len(messages) / best
    finally:
        pool.close()


def _traced_peak(raw: bytes) -> int:
    gc.collect()
    tracemalloc.start()
    understand(raw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def _peak_rss() -> int:
    """Bytes. Linux's VmHWM belongs to the process image; ru_maxrss there carries the parent's
    peak over fork and exec, so it is only the fallback elsewhere."""
    status = Path("/proc/self/status")
    for line in status.read_text().splitlines() if status.exists() else []:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def _rss_growth_child(path: str) -> None:
    """In a fresh process: how far `understand` lifts the peak RSS above where reading the
    message (one copy, sized from the file) and a warm-up on a small message left it."""
    understand(b"From: a@example.com\nSubject: warm-up\n\nHello\n")
    raw = Path(path).read_bytes()
    before = _peak_rss()
    understand(raw)
    print(_peak_rss() - before)


def _rss_growth(raw: bytes) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "large.eml"
        path.write_bytes(raw)
        child = [sys.executable, "-m", "tests.benchmarks.preview_speed", "--rss-child", str(path)]
        root = Path(__file__).resolve().parents[2]
        result = subprocess.run(child, capture_output=True, text=True, check=True, cwd=root)
    return int(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        _rss_growth_child(args.rss_child)
        return

    folder = SHARED_DIR / "corpora" / "zammad_mail"
    messages = [path.read_bytes() for path in sorted(folder.glob("*.box"))]
    if not messages:
        raise SystemExit(f"no messages under {folder}: the shared corpora are needed")
    for raw in messages:  # warm caches (regexes, schema-free imports) outside the timing
        understand(raw)

    bare = _rate(messages, _bare_parse, args.rounds)
    full = _rate(messages, understand, args.rounds)
    print(f"zammad_mail: {len(messages)} messages, best of {args.rounds} rounds, one core")
    print(f"  bare email.message_from_bytes(policy=default): {bare:8.0f} messages/second")
    print(f"  full preview path (parse, classify, reply, ADF): {full:8.0f} messages/second")
    print(f"  ratio bare/full: {bare / full:.2f}x (goal <= 6x); full >= 200/s: {full >= 200}")
    # With budgets on (issue 12): the same path in a reader process, as the pipeline reads,
    # with the result pickled back. One worker keeps it to one core beside the bare parse.
    for workers in (1, 2):
        budgeted = _budgeted_rate(messages, args.rounds, workers)
        print(f"  in {workers} reader process(es) with the default budget: {budgeted:8.0f}", end="")
        print(f" messages/second, ratio bare/budgeted {bare / budgeted:.2f}x")

    raw = _large_message(25 * 1024 * 1024)
    peak = _traced_peak(raw)
    print(f"25 MB attachment: message {len(raw) / 2**20:.1f} MiB, peak Python allocation")
    print(f"  {peak / 2**20:.1f} MiB = {peak / len(raw):.2f}x the message size (goal < 4x)")
    crlf = raw.replace(b"\n", b"\r\n")
    peak = _traced_peak(crlf)
    print(f"  CRLF line ends, as IMAP delivers it ({len(crlf) / 2**20:.1f} MiB): ", end="")
    print(f"{peak / 2**20:.1f} MiB = {peak / len(crlf):.2f}x")
    for name, message in (("LF", raw), ("CRLF", crlf)):
        growth = _rss_growth(message)
        print(f"  peak RSS growth in a fresh process, {name}: ", end="")
        print(f"{growth / 2**20:.1f} MiB = {growth / len(message):.2f}x")


if __name__ == "__main__":
    main()
