"""Serve an ASGI app with uvicorn on a loopback port, from a background thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.types import ASGIApp

_START_TIMEOUT_SECONDS = 10.0


class LoopbackServer:
    """One uvicorn server on 127.0.0.1 with a port picked by the kernel."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        name: str,
        sock: socket.socket | None = None,
        access_log: bool = False,
    ) -> None:
        """`sock`: an already bound socket, for a caller that must know the port before the app
        is built (e.g. because the app's own URL is part of its configuration). `access_log`:
        uvicorn logs each request on `uvicorn.access` and leaves logging as the caller set it
        up (no `log_config`), as under `connector serve`."""
        self._app = app
        self._access_log = access_log
        self._name = name
        self._sock = sock
        self._port: int | None = None if sock is None else int(sock.getsockname()[1])
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"{self._name} is not running; call start() first")
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError(f"{self._name} is already started")
        # Binding before uvicorn starts means the port is known (and reserved) up front; asking
        # uvicorn for port 0 would leave us parsing its log to learn the port.
        sock = self._sock
        if sock is None:
            # IPPROTO_TCP, not 0: asyncio turns on TCP_NODELAY only for sockets that say they
            # are TCP, and without it every request on a kept-alive connection waits ~40 ms
            # for delayed ACKs.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self._port = int(sock.getsockname()[1])
        log_options: dict[str, Any] = (
            {"log_config": None, "access_log": True}
            if self._access_log
            else {"log_level": "warning", "access_log": False}
        )
        config = uvicorn.Config(
            self._app,
            **log_options,
            lifespan="off",
            ws="none",
            loop="asyncio",
            # A request parked by an injected delay must not hold up a test session's teardown.
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self._name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not server.started:
            if not self._thread.is_alive():
                sock.close()
                raise RuntimeError(f"{self._name} exited during start-up")
            if time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"{self._name} did not start within {_START_TIMEOUT_SECONDS}s")
            time.sleep(0.005)

    def request_stop(self) -> None:
        """Ask the server to exit without waiting; uvicorn needs ~0.2 s to wind down, so a
        caller stopping several servers asks all of them first and then joins."""
        if self._server is not None:
            self._server.should_exit = True

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=_START_TIMEOUT_SECONDS)
        self._server = None
        self._thread = None
