"""A `Network` for tests: host names answered from a table, connections only to loopback.

Tests never ask a real DNS server and never send a packet beyond 127.0.0.0/8 and ::1, however
the code under test behaves: a name that is not in the table resolves to `PUBLIC_ADDRESS`,
which passes the public-address check, and dialling it is refused here before any socket is
made. `lookups` and `dials` say what the code asked for, so a test can show that a refused
host was never connected to, or that a connection went to the address that was checked.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Sequence

from connector.net.addresses import AllowList
from connector.net.hosts import HostPolicy

# A globally routable address that stands for "some public mail server"; never dialled.
PUBLIC_ADDRESS = "93.184.215.14"


class FakeNetwork:
    def __init__(self) -> None:
        self._answers: dict[str, list[list[str]]] = {}
        self._lock = threading.Lock()
        self.lookups: list[str] = []
        self.dials: list[tuple[str, int]] = []
        self.refused_dials: list[tuple[str, int]] = []

    def answer(self, host: str, *answers: Sequence[str]) -> None:
        """`host` resolves to each answer in turn, the last one from then on; an empty
        answer means the name does not resolve."""
        with self._lock:
            self._answers[host.lower().rstrip(".")] = [list(answer) for answer in answers]

    def resolve(self, host: str, port: int) -> Sequence[str]:
        name = host.lower().rstrip(".")
        with self._lock:
            self.lookups.append(name)
            queue = self._answers.get(name)
            if queue is not None:
                found = queue.pop(0) if len(queue) > 1 else queue[0]
                if not found:
                    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
                return found
        try:
            return [str(ipaddress.ip_address(name.strip("[]")))]
        except ValueError:
            pass
        if name == "localhost":
            return ["127.0.0.1"]
        name.encode("idna")  # UnicodeError for an empty or overlong label, as getaddrinfo
        if name.endswith(".invalid"):  # RFC 6761 §6.4: never resolves
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [PUBLIC_ADDRESS]

    def dial(self, address: str, port: int, timeout: float | None) -> socket.socket:
        with self._lock:
            self.dials.append((address, port))
        if not ipaddress.ip_address(address.split("%", 1)[0]).is_loopback:
            with self._lock:
                self.refused_dials.append((address, port))
            raise ConnectionRefusedError(f"tests do not connect to {address}")
        return socket.create_connection((address, port), timeout)


def loopback_policy(network: FakeNetwork | None = None) -> HostPolicy:
    """The policy the app has in development and tests: public addresses and loopback."""
    return HostPolicy(AllowList(loopback=True), network or FakeNetwork())
