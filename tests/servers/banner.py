"""A service on loopback that is not a mail server: it greets like SSH and answers anything
with words of its own. A connection test pointed at it must not repeat either."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

BANNER = b"SSH-2.0-secret-banner"
REPLY = b"Protocol mismatch: secret-reply"


class BannerServer:
    host = "127.0.0.1"

    def __init__(self) -> None:
        self._listener = socket.create_server((self.host, 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="banner-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    @staticmethod
    def _talk(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(3)
            conn.sendall(BANNER + b"\r\n")
            while conn.recv(4096):
                conn.sendall(REPLY + b"\r\n")


@pytest.fixture
def banner_server() -> Iterator[BannerServer]:
    server = BannerServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def reflects(text: str) -> bool:
    """Whether `text` carries anything the banner service sent."""
    return "secret-" in text or "SSH-2.0" in text or "mismatch" in text
