"""The pure decision of `connector.net.addresses`: which addresses a tenant's host may have."""

from __future__ import annotations

import ipaddress

import pytest

from connector.net.addresses import AllowList, address_kind, embedded_ipv4, refusal

UNSPECIFIED = "0.0.0.0"  # noqa: S104 - an address under test; nothing binds to it

NOTHING = AllowList()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("93.184.215.14", None),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        (UNSPECIFIED, "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "private"),  # AWS metadata over IPv6 (a unique-local address)
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("100.127.255.254", "shared (carrier-grade NAT)"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("fec0::1", "site-local"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "special-purpose"),  # TEST-NET-1
        ("198.18.0.1", "special-purpose"),  # benchmarking
        ("0.1.2.3", "special-purpose"),  # "this network"
        ("2001:db8::1", "special-purpose"),  # documentation
        ("2001::1", "special-purpose"),  # Teredo
        ("100::1", "reserved"),  # discard-only
        ("::7f00:1", "reserved"),  # IPv4-compatible 127.0.0.1, deprecated
        ("64:ff9b:1::a00:1", "reserved"),  # local-use NAT64 (RFC 8215)
        # IPv6 forms that carry an IPv4 address are judged by that address.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::808:808", None),  # NAT64 of a public address: fine on IPv6-only hosts
        ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 of 169.254.169.254
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
        ("2002:808:808::1", None),
    ],
)
def test_address_kind_table_names_what_is_not_public(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_embedded_ipv4_mapped_nat64_and_6to4_forms() -> None:
    forms = ["::ffff:10.1.2.3", "64:ff9b::a01:203", "2002:a01:203::1", "2001:db8::1", "10.1.2.3"]
    found = [embedded_ipv4(ipaddress.ip_address(form)) for form in forms]
    assert [str(a) if a else None for a in found] == ["10.1.2.3"] * 3 + [None, None]


@pytest.mark.parametrize(
    ("host", "addresses", "expected"),
    [
        ("mail.example.com", ["93.184.215.14"], None),
        ("mail.example.com", ["93.184.215.14", "2001:4860:4860::8888"], None),
        ("10.0.0.5", ["10.0.0.5"], "10.0.0.5 is a private address"),
        ("mail.corp.example", ["10.0.0.5"], "mail.corp.example resolves to a private address"),
        ("localhost", ["127.0.0.1"], "localhost resolves to a loopback address"),
        ("::1", ["::1"], "::1 is a loopback address"),
        (UNSPECIFIED, [UNSPECIFIED], UNSPECIFIED + " is an unspecified address"),
        ("metadata", ["169.254.169.254"], "metadata resolves to a link-local address"),
        # One bad address is enough: the connection might try it.
        ("split.example", ["93.184.215.14", "192.168.0.9"], "resolves to a private address"),
        ("split.example", ["2001:4860::1", "fe80::1%eth0"], "resolves to a link-local address"),
        ("empty.example", [], "empty.example has no address"),
        ("odd.example", ["not-an-address"], "which is not an IP address"),
    ],
)
def test_refusal_without_allowances_refuses_every_non_public_address(
    host: str, addresses: list[str], expected: str | None
) -> None:
    problem = refusal(host, addresses, NOTHING)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


def test_refusal_message_names_the_setting_that_allows_it() -> None:
    problem = refusal("mail.corp.example", ["10.0.0.5"], NOTHING)
    assert problem is not None and "ALLOWED_INTERNAL_HOSTS" in problem
    assert "10.0.0.5" not in problem  # internal DNS answers are not handed to the caller


ALLOWED = AllowList.parse("Mail.Corp.Example., 10.20.0.0/16, fd12:3456::/32, 192.168.7.7")


@pytest.mark.parametrize(
    ("host", "addresses", "allowed"),
    [
        ("mail.corp.example", ["10.99.0.1"], True),  # a listed name may be anything
        ("MAIL.corp.example.", ["169.254.1.1"], True),
        ("mail.corp.example", [UNSPECIFIED], False),  # but never this machine in disguise
        ("mail.corp.example", ["224.0.0.5"], False),
        ("other.corp.example", ["10.99.0.1"], False),
        ("other.corp.example", ["10.20.3.4"], True),  # in a listed network
        ("10.20.255.255", ["10.20.255.255"], True),
        ("10.21.0.1", ["10.21.0.1"], False),
        ("::ffff:10.20.0.9", ["::ffff:10.20.0.9"], True),  # mapped form of a listed address
        ("fd12:3456::25", ["fd12:3456::25"], True),
        ("fd12:3457::25", ["fd12:3457::25"], False),
        ("192.168.7.7", ["192.168.7.7"], True),  # a single address
        ("192.168.7.8", ["192.168.7.8"], False),
        ("both.corp.example", ["10.20.0.1", "10.30.0.1"], False),
        ("localhost", ["127.0.0.1"], False),  # loopback only with the loopback allowance
    ],
)
def test_refusal_allow_list_by_name_and_network(
    host: str, addresses: list[str], allowed: bool
) -> None:
    assert (refusal(host, addresses, ALLOWED) is None) is allowed


@pytest.mark.parametrize(
    ("host", "addresses", "allowed"),
    [
        ("localhost", ["127.0.0.1", "::1"], True),
        ("127.0.0.2", ["127.0.0.2"], True),
        ("::ffff:127.0.0.1", ["::ffff:127.0.0.1"], True),
        (UNSPECIFIED, [UNSPECIFIED], False),
        ("10.0.0.1", ["10.0.0.1"], False),
        ("169.254.169.254", ["169.254.169.254"], False),
    ],
)
def test_refusal_loopback_allowance_covers_loopback_only(
    host: str, addresses: list[str], allowed: bool
) -> None:
    assert (refusal(host, addresses, AllowList(loopback=True)) is None) is allowed


def test_allow_list_parse_reads_names_addresses_and_networks() -> None:
    parsed = AllowList.parse(" mail.corp.example ,,10.0.0.0/8,::1, fd00::/8 ", loopback=True)
    assert parsed.names == frozenset({"mail.corp.example"})
    assert [str(n) for n in parsed.networks] == ["10.0.0.0/8", "::1/128", "fd00::/8"]
    assert parsed.loopback is True
    assert AllowList.parse("") == AllowList()


@pytest.mark.parametrize(
    "raw",
    ["10.0.0.1/8", "10.0.0.0/33", "300.1.1.1", "http://mail.corp", "mail corp", "-bad.example"],
)
def test_allow_list_parse_bad_entry_names_it(raw: str) -> None:
    with pytest.raises(ValueError, match="'") as raised:
        AllowList.parse(f"mail.ok.example,{raw}")
    assert repr(raw) in str(raised.value)
