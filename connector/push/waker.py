"""`Waker`: lets any thread wake a thread that waits in `selectors.select`.

A connected socket pair whose reading end sits on the selector (the self-pipe trick, with a
socket pair so it works wherever `selectors` does): `wake` writes a byte, and the waiting
thread sees its key (`data` None) ready and calls `drain`. Both ends are non-blocking, so a
wake never blocks its caller, however many are pending.
"""

from __future__ import annotations

import contextlib
import selectors
import socket


class Waker:
    def __init__(self, selector: selectors.BaseSelector) -> None:
        """Registers the reading end on `selector` with `data` None."""
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        selector.register(self._read, selectors.EVENT_READ, None)

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # already woken (buffer full), or stopped
            self._write.send(b"\0")

    def drain(self) -> None:
        with contextlib.suppress(OSError):  # BlockingIOError: nothing more to read
            while self._read.recv(4096):
                pass

    def close(self) -> None:
        self._read.close()
        self._write.close()
