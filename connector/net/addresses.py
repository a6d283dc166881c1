"""Which addresses a tenant's mail server may have: public ones, and what the operator allows.

A Jira admin of any installed site chooses mail-source and SMTP hosts, and the app then
connects from inside its own network. Without this check those hosts can be the cloud metadata
service (169.254.169.254), the database, or anything else only the app can reach, and a
connection test turns into a port scanner. So an address is usable only when it is globally
reachable: not loopback, private (RFC 1918, RFC 4193), link-local, multicast, unspecified,
shared (RFC 6598), site-local or otherwise reserved, whichever IPv6 form carries it
(IPv4-mapped, NAT64 `64:ff9b::/96` of RFC 6052, 6to4 of RFC 3056). On-premises mail servers
are allowed by name or network in ALLOWED_INTERNAL_HOSTS; loopback is allowed where the app
itself runs on loopback (development and tests).

Pure: addresses in, a decision out; resolving names is `connector.net.hosts`'s job.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTING = "ALLOWED_INTERNAL_HOSTS"
_HINT = (
    "mail servers must be reachable on the internet; an operator can allow an on-premises "
    f"server with {SETTING}"
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Never a mail server, even on a listed name: 0.0.0.0 and :: reach this machine's own services.
_NEVER = frozenset({"unspecified", "multicast"})


@dataclass(frozen=True)
class AllowList:
    """Non-public hosts that may be used anyway: by name, by network, and loopback."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    loopback: bool = False

    @classmethod
    def parse(cls, raw: str, *, loopback: bool = False) -> AllowList:
        """Comma-separated host names, addresses and CIDR networks; ValueError names the entry."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (part.strip() for part in raw.split(",")):
            if not entry:
                continue
            if _looks_numeric(entry):
                try:
                    networks.append(ipaddress.ip_network(entry))
                except ValueError as exc:
                    raise ValueError(f"{entry!r} is not an address or network: {exc}") from None
            elif is_host_name(entry):
                names.add(normal_name(entry))
            else:
                raise ValueError(f"{entry!r} is neither a host name nor an address or network")
        return cls(frozenset(names), tuple(networks), loopback)

    def allows(self, host: str, address: IPAddress, kind: str) -> bool:
        if kind in _NEVER:
            return False
        if normal_name(host) in self.names:
            return True
        if self.loopback and kind == "loopback":
            return True
        candidates = [address]
        embedded = embedded_ipv4(address)
        if embedded is not None:
            candidates.append(embedded)
        return any(a in network for a in candidates for network in self.networks)


def refusal(host: str, addresses: Iterable[str], allowed: AllowList) -> str | None:
    """Why `host`, resolved to `addresses`, may not be used; None when it may.

    Every address must pass: a name that answers with one public and one private address
    would otherwise reach the private one whenever the connection tries it.
    """
    found = list(addresses)
    if not found:
        return f"{host} has no address"
    literal = _literal(host)
    for text in found:
        address = _literal(text.split("%", 1)[0])  # a link-local answer may carry a %scope
        if address is None:
            return f"{host} resolves to {text!r}, which is not an IP address"
        kind = address_kind(address)
        if kind is None or allowed.allows(host, address, kind):
            continue
        if literal is not None:
            return f"{host} is {_article(kind)} {kind} address: {_HINT}"
        return f"{host} resolves to {_article(kind)} {kind} address: {_HINT}"
    return None


def address_kind(address: IPAddress) -> str | None:
    """What makes `address` non-public (`loopback`, `private`, ...), or None when it is public."""
    embedded = embedded_ipv4(address)
    if embedded is not None:
        return address_kind(embedded)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if address in _SHARED:
        return "shared (carrier-grade NAT)"
    if any(address in network for network in _PRIVATE):
        return "private"
    if address.is_reserved:
        return "reserved"
    if address.is_private or not address.is_global:
        return "special-purpose"
    return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: IPv4-mapped, NAT64 or 6to4; else None."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def is_host_name(value: str) -> bool:
    """An RFC 1123 host name (letters, digits, hyphens; labels of 1-63; at most 253)."""
    name = normal_name(value)
    if not name or len(name) > 253:
        return False
    return all(_LABEL.match(label) for label in name.split("."))


def normal_name(host: str) -> str:
    return host.strip().lower().rstrip(".")


def _looks_numeric(entry: str) -> bool:
    return ":" in entry or "/" in entry or entry.replace(".", "").isdigit()


def _literal(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"
