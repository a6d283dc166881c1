"""Benchmark: the whole preview path against a bare parse, and memory for a 25 MB attachment.

Run on demand: `uv run python -m tests.benchmarks.preview_speed [--rounds N]`.
Prints figures and ratios measured in the same run; it asserts nothing (DEVELOPERS.md: speed is
measured here, never by timed unit tests). Goals (issue 3): the full path at least 200
messages/second on one core and within 6x of `email.message_from_bytes(policy=default)`; peak
memory for a message with a 25 MB attachment under 4x the message size.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import gc
import os
import time
import tracemalloc
from collections.abc import Callable
from email.message import EmailMessage

from connector.understanding import understand
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

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

    raw = _large_message(25 * 1024 * 1024)
    gc.collect()
    tracemalloc.start()
    understand(raw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"25 MB attachment: message {len(raw) / 2**20:.1f} MiB, peak Python allocation")
    print(f"  {peak / 2**20:.1f} MiB = {peak / len(raw):.2f}x the message size (goal < 4x)")


if __name__ == "__main__":
    main()
