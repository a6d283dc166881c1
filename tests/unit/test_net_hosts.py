"""`HostPolicy` with a fake network, and ALLOWED_INTERNAL_HOSTS read from the environment.

No socket is opened here: every refusal happens before the policy dials anything.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connector.net.addresses import AllowList
from connector.net.hosts import HostPolicy, HostRefused
from connector.settings import Settings, SettingsError
from tests.fakes.network import PUBLIC_ADDRESS, FakeNetwork

UNSPECIFIED = "0.0.0.0"  # noqa: S104 - an address under test; nothing binds to it


@pytest.fixture
def network() -> FakeNetwork:
    return FakeNetwork()


def test_host_policy_public_name_gives_its_checked_addresses(network: FakeNetwork) -> None:
    network.answer("mail.example.com", [PUBLIC_ADDRESS, "2001:4860:4860::8888"])
    policy = HostPolicy(AllowList(), network)
    assert policy.addresses("mail.example.com", 993) == (PUBLIC_ADDRESS, "2001:4860:4860::8888")


@pytest.mark.parametrize(
    ("host", "answer"),
    [
        ("metadata.cloud.example", ["169.254.169.254"]),
        ("db.corp.example", ["10.0.0.7"]),
        ("mixed.example", [PUBLIC_ADDRESS, "192.168.0.2"]),
        ("localhost", ["127.0.0.1"]),
        ("v6.example", ["::1"]),
    ],
)
def test_host_policy_connect_non_public_refused_before_any_dial(
    network: FakeNetwork, host: str, answer: list[str]
) -> None:
    network.answer(host, answer)
    policy = HostPolicy(AllowList(), network)
    with pytest.raises(HostRefused, match=host):
        policy.connect(host, 993, 5)
    assert network.dials == []


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", UNSPECIFIED, "169.254.169.254", "10.1.1.1"])
def test_host_policy_literal_non_public_address_refused(network: FakeNetwork, host: str) -> None:
    with pytest.raises(HostRefused, match=r"is an? "):
        HostPolicy(AllowList(), network).connect(host, 25, 5)
    assert network.dials == []


def test_host_policy_rebinding_name_refused_once_it_turns_private(network: FakeNetwork) -> None:
    """Public at save time, private at connect time: each lookup is checked on its own."""
    network.answer("rebind.example", [PUBLIC_ADDRESS], ["10.0.0.1"])
    policy = HostPolicy(AllowList(), network)
    assert policy.addresses("rebind.example", 993) == (PUBLIC_ADDRESS,)
    with pytest.raises(HostRefused, match="private"):
        policy.connect("rebind.example", 993, 5)
    assert network.dials == []


def test_host_policy_unknown_name_raises_gaierror(network: FakeNetwork) -> None:
    with pytest.raises(socket.gaierror):
        HostPolicy(AllowList(), network).addresses("mail.nowhere.invalid", 993)


@pytest.mark.parametrize("host", ["smtp..example.com", "a" * 64 + ".example.com"])
def test_host_policy_name_idna_cannot_encode_refused(network: FakeNetwork, host: str) -> None:
    with pytest.raises(HostRefused, match="is not valid"):
        HostPolicy(AllowList(), network).addresses(host, 25)


def test_host_policy_allow_list_lets_on_premises_server_through(network: FakeNetwork) -> None:
    network.answer("mail.corp.example", ["10.20.0.5"])
    network.answer("other.corp.example", ["10.30.0.5"])
    policy = HostPolicy(AllowList.parse("mail.corp.example,10.40.0.0/16"), network)
    assert policy.addresses("mail.corp.example", 993) == ("10.20.0.5",)
    assert policy.addresses("10.40.1.2", 993) == ("10.40.1.2",)
    with pytest.raises(HostRefused):
        policy.addresses("other.corp.example", 993)


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(env, key_file=tmp_path / "data" / "encryption.key")


def test_settings_allowed_internal_hosts_default_none_loopback_follows_base_url(
    tmp_path: Path,
) -> None:
    development = _settings(tmp_path)
    assert development.internal_hosts == AllowList(loopback=True)
    production = _settings(
        tmp_path,
        BASE_URL="https://connector.example.com",
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    assert production.internal_hosts == AllowList(loopback=False)


def test_settings_allowed_internal_hosts_are_read(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        BASE_URL="https://connector.example.com",
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ALLOWED_INTERNAL_HOSTS="mail.corp.example, 10.20.0.0/16",
    )
    assert settings.internal_hosts.names == frozenset({"mail.corp.example"})
    assert [str(n) for n in settings.internal_hosts.networks] == ["10.20.0.0/16"]
    assert settings.internal_hosts.loopback is False


@pytest.mark.parametrize("raw", ["10.0.0.1/8", "mail corp", "http://mail.corp.example"])
def test_settings_allowed_internal_hosts_bad_value_names_the_variable(
    tmp_path: Path, raw: str
) -> None:
    with pytest.raises(SettingsError, match="ALLOWED_INTERNAL_HOSTS") as raised:
        _settings(tmp_path, ALLOWED_INTERNAL_HOSTS=raw)
    assert repr(raw) in str(raised.value)
