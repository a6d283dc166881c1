"""`HostPolicy`: resolve a tenant's host once, check every address, connect only to those.

Checking a name and then handing the name to a client library would resolve it twice; a DNS
answer with a short TTL can change in between (DNS rebinding) and send the connection to an
address that was never checked. So the policy returns the checked addresses and opens the TCP
connection to one of them itself; TLS still verifies the certificate against the host name
(`connector.net.clients`).

How names are looked up and connections opened is a `Network`, so tests answer names from a
table and never leave loopback.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from connector.net.addresses import AllowList, refusal


class HostRefused(Exception):
    """The host may not be used (a non-public address, or not a name at all); the message says
    why in words an admin can act on, and never repeats anything the host sent."""


class Network(Protocol):
    def resolve(self, host: str, port: int) -> Sequence[str]:
        """Addresses of `host`; `socket.gaierror` when it has none."""
        ...

    def dial(self, address: str, port: int, timeout: float | None) -> socket.socket:
        """A TCP connection to an address `resolve` gave."""
        ...


class SystemNetwork:
    """The operating system's resolver and sockets."""

    def resolve(self, host: str, port: int) -> Sequence[str]:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in found))

    def dial(self, address: str, port: int, timeout: float | None) -> socket.socket:
        if timeout is None:
            return socket.create_connection((address, port))
        return socket.create_connection((address, port), timeout)


@dataclass(frozen=True)
class HostPolicy:
    """Which hosts connections may go to. The default allows public addresses only."""

    allowed: AllowList = field(default_factory=AllowList)
    network: Network = field(default_factory=SystemNetwork, compare=False)

    def addresses(self, host: str, port: int) -> tuple[str, ...]:
        """Every address of `host`, checked; `HostRefused` when any may not be used,
        `socket.gaierror` when the name does not resolve."""
        try:
            found = self.network.resolve(host, port)
        except UnicodeError as exc:  # IDNA: an empty label or one over 63 characters
            raise HostRefused(f"the server name {host!r} is not valid ({exc})") from None
        problem = refusal(host, found, self.allowed)
        if problem is not None:
            raise HostRefused(problem)
        return tuple(found)

    def connect(self, host: str, port: int, timeout: float | None) -> socket.socket:
        """A TCP connection to the first checked address of `host` that accepts one."""
        last: OSError | None = None
        for address in self.addresses(host, port):
            try:
                return self.network.dial(address, port, timeout)
            except OSError as exc:
                last = exc
        raise last or OSError(f"{host} has no address to connect to")


PUBLIC_ONLY = HostPolicy()
