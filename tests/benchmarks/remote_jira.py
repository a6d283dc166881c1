"""The fake Jira in a process of its own, for benchmarks.

In the benchmark's own process the fake would share the interpreter lock with the code being
measured, and it is not cheap: it validates every request body against Jira's OpenAPI document
and every ADF document against its schema (about 70% of the CPU of an in-process run at 0 ms
latency). Real Jira runs elsewhere, so here it does too: `remote_jira()` starts `FakeJira` in a
`multiprocessing` manager process and hands back a proxy with the few operations the
benchmarks need; arguments and answers are plain values.

It also counts the requests the fake is answering at once (`InFlightCounter`, around its ASGI
app), as FakeJira has no hook for it; and can switch off the fake's body validation
(`validate_bodies(False)`): at ~30 ms of CPU per request in the fake's one event loop, it caps
the throughput of the whole path at ~20 messages/second whatever the code under test does,
and real Jira's own time is what `inject_delay` stands for. The resource handlers' checks
(required fields, text limits, ...) stay on.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import socket
import threading
from collections.abc import Callable, Iterator
from multiprocessing.managers import BaseManager
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fakes.jira import FakeJira


class InFlightCounter:
    """ASGI middleware: how many HTTP requests the app is answering at once, and the peak."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.current = 0
        self.peak = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        try:
            await self._app(scope, receive, send)
        finally:
            with self._lock:
                self.current -= 1

    def reset(self) -> None:
        with self._lock:
            self.peak = self.current


class JiraHost:
    """A running FakeJira, driven from another process through a manager proxy."""

    def __init__(self, app_key: str) -> None:
        self._jira = FakeJira(app_key=app_key)
        server = self._jira._server
        # Set before the server starts, which serves whatever `_app` and `_sock` hold then.
        self._counter = InFlightCounter(server._app)
        server._app = self._counter
        server._sock = tcp_listener()
        self._jira.start()

    def stop(self) -> None:
        self._jira.stop()

    def validate_bodies(self, enabled: bool) -> None:
        """Whether request bodies are checked against the OpenAPI document and ADF schema."""
        gateway = self._jira._gateway
        if enabled:
            vars(gateway).pop("_checked_json", None)
        else:
            vars(gateway)["_checked_json"] = _parse_only  # shadows the method

    def client_key(self) -> str:
        return self._jira.client_key

    def install_keys_url(self) -> str:
        return self._jira.install_keys_url

    def authorization_server_url(self) -> str:
        return self._jira.authorization_server_url

    def install(self, app_base_url: str) -> tuple[int, str]:
        response = self._jira.install(app_base_url)
        return response.status_code, response.text

    def add_project(self, key: str, name: str, issue_types: tuple[str, ...]) -> None:
        self._jira.add_project(key, name, issue_types)

    def add_users(self, users: list[tuple[str, str, str]]) -> None:
        """(account id, email, display name) each."""
        for account_id, email, display_name in users:
            self._jira.add_user(account_id, email, display_name)

    def inject_delay(self, seconds: float, times: int) -> None:
        self._jira.inject_delay(seconds, times=times)

    def clear_faults(self) -> None:
        self._jira.clear_faults()

    def requests_logged(self) -> int:
        return len(self._jira.requests_log)

    def requests_since(self, start: int) -> list[tuple[str, str, int]]:
        """(method, path, status) of each request answered since the log held `start`."""
        return [(r.method, r.path, r.status) for r in self._jira.requests_log[start:]]

    def issue_count(self) -> int:
        return len(self._jira.issue_keys())

    def validation_failures(self) -> list[str]:
        return [
            f"{f.kind} {f.method} {f.path}: {f.messages}" for f in self._jira.validation_failures
        ]

    def reset_peak(self) -> None:
        self._counter.reset()

    def peak_in_flight(self) -> int:
        return self._counter.peak

    def cpu_seconds(self) -> float:
        """CPU time of the fake's process so far (user + system)."""
        times = os.times()
        return times.user + times.system


def tcp_listener() -> socket.socket:
    """A loopback socket for uvicorn, bound to a free port, made with IPPROTO_TCP.

    asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets whose `proto` is
    IPPROTO_TCP (`asyncio.base_events._set_nodelay`), and accepted connections inherit `proto`
    from the listener. LoopbackServer's own socket has proto 0, so on a kept-alive connection
    every answer waits for the client's delayed ACK: 44 ms per request, measured."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _parse_only(_request: Request, _template: str, body: bytes) -> tuple[Any, Response | None]:
    return json.loads(body), None


class JiraManager(BaseManager):
    jira_host: Callable[[str], JiraHost]  # set by `register`; answers a proxy of a JiraHost


JiraManager.register("jira_host", JiraHost)


@contextlib.contextmanager
def remote_jira(app_key: str = "mail-connector") -> Iterator[JiraHost]:
    manager = JiraManager(ctx=multiprocessing.get_context("spawn"))
    manager.start()
    try:
        host = manager.jira_host(app_key)
        try:
            yield host
        finally:
            host.stop()
    finally:
        manager.shutdown()
