"""Benchmark: what one large request body costs the server, and whether others wait behind it.

Run on demand: `uv run python -m tests.benchmarks.hostile_bodies [--megabytes N]`.
Starts the app as the Procfile does (uvicorn with the `connector.cli:app_from_env` factory) in
a child process on loopback, then sends a body of N MB (default 72) to the lifecycle callback
without a token, and a body of deeply nested JSON, while a second client asks `/healthz` in a
loop. Prints the time to the answer, the slowest `/healthz` meanwhile and the server's peak
resident set size before and after (VmHWM from /proc). It asserts nothing (DEVELOPERS.md).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from descriptor.render import lifecycle_paths


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BASE_URL": base_url,
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{workdir / 'connector.db'}",
        "ENCRYPTION_KEY": Fernet.generate_key().decode("ascii"),
        "CONNECT_INSTALL_KEYS_URL": "http://127.0.0.1:9",
        "LOG_LEVEL": "WARNING",
        # The code beside this file, whichever checkout it is (to compare two versions).
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "connector.cli:app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=workdir,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                return server, base_url
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the app did not start within 30 s")


def _chunks(total: int, chunk: bytes) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = chunk[: total - sent]
        sent += len(piece)
        yield piece


def _watch_healthz(base_url: str, stop: threading.Event, worst: list[float]) -> None:
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get(base_url + "/healthz")
            worst[0] = max(worst[0], time.perf_counter() - started)
            time.sleep(0.01)


def _measure(base_url: str, pid: int, label: str, body: Iterator[bytes] | bytes) -> None:
    path = lifecycle_paths()["installed"]
    rss_before = _peak_rss_mb(pid)
    stop = threading.Event()
    worst = [0.0]
    watcher = threading.Thread(target=_watch_healthz, args=(base_url, stop, worst), daemon=True)
    watcher.start()
    time.sleep(0.2)
    started = time.perf_counter()
    try:
        response = httpx.post(
            base_url + path,
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=120,
        )
        outcome = f"{response.status_code} {response.text[:80]!r}"
    except httpx.HTTPError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - started
    time.sleep(0.3)
    stop.set()
    watcher.join()
    print(
        f"{label}: answer {outcome} after {elapsed:.2f} s; slowest /healthz {worst[0]:.3f} s; "
        f"server peak RSS {rss_before:.0f} MB -> {_peak_rss_mb(pid):.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=72)
    args = parser.parse_args()
    size = args.megabytes * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        server, base_url = _start_server(Path(tmp))
        try:
            # Valid JSON of `size` bytes made of empty objects: the costliest shape to parse
            # (a dict per three bytes), so a server that parses it all pays the whole parse.
            text = b'{"clientKey": "x", "p": [' + b"{}," * ((size - 30) // 3) + b"{}]}"
            _measure(base_url, server.pid, f"{args.megabytes} MB, Content-Length, no token", text)
            del text
            chunked = _chunks(size, b"[" * (1024 * 1024))
            label = f"{args.megabytes} MB of '[', chunked, no token"
            _measure(base_url, server.pid, label, chunked)
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
