"""Connections to a tenant's host go to the address that was checked, TLS still checks the
name, and a service that is not a mail server gets none of its words repeated.

Names are answered by a `FakeNetwork`: nothing here asks real DNS or leaves loopback.
"""

from __future__ import annotations

import contextlib
import ssl

import pytest

from connector.net.addresses import AllowList
from connector.net.clients import PinnedIMAP4, PinnedPOP3, Route
from connector.net.hosts import HostPolicy
from connector.outbound.delivery import SendError
from connector.outbound.smtp import SmtpSender
from connector.sources import open_source
from connector.sources.diagnose import diagnose
from connector.sources.errors import SourceConfigError, SourceConnectionError, SourceError
from tests.fakes.network import FakeNetwork
from tests.servers.banner import BannerServer, reflects
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp import SmtpServer, sample_message, sender_settings
from tests.servers.sources import dovecot_config

REBINDING = "mail.rebinding.example"


@pytest.fixture
def network() -> FakeNetwork:
    return FakeNetwork()


def _loopback(network: FakeNetwork) -> HostPolicy:
    return HostPolicy(AllowList(loopback=True), network)


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_source_rebinding_name_connects_to_checked_address_then_is_refused(
    dovecot: Dovecot, mail_user: MailUser, network: FakeNetwork, protocol: str
) -> None:
    """The first lookup says loopback (allowed here), every later one a private address. The
    session must reach Dovecot through the one checked lookup, never by resolving again, and
    the next connection must be refused before any dial."""
    network.answer(REBINDING, [dovecot.host], ["10.0.0.9"])
    config = dovecot_config(
        dovecot, mail_user, protocol, host=REBINDING, host_policy=_loopback(network)
    )
    with open_source(config) as source:
        assert source.config.host == REBINDING
    assert network.lookups == [REBINDING]
    assert [address for address, _ in network.dials] == [dovecot.host]
    with pytest.raises(SourceConfigError) as refused:
        open_source(config).connect()
    assert refused.value.field == "host" and "private" in refused.value.problem
    assert [address for address, _ in network.dials] == [dovecot.host]


def test_smtp_rebinding_name_connects_to_checked_address_then_is_refused(
    smtp_server: SmtpServer, network: FakeNetwork
) -> None:
    network.answer(REBINDING, [smtp_server.host], ["169.254.169.254"])
    settings = sender_settings(smtp_server, host=REBINDING, host_policy=_loopback(network))
    SmtpSender(settings).send(sample_message())
    assert len(smtp_server.delivered) == 1
    with pytest.raises(SendError) as refused:
        SmtpSender(settings).send(sample_message())
    assert refused.value.step == "connect" and not refused.value.retryable
    assert "link-local" in str(refused.value)
    assert network.lookups == [REBINDING, REBINDING]
    assert [address for address, _ in network.dials] == [smtp_server.host]


def test_source_loopback_refused_without_the_allowance(
    dovecot: Dovecot, mail_user: MailUser, network: FakeNetwork
) -> None:
    """Production has no loopback allowance: Dovecot on 127.0.0.1 is never dialled."""
    config = dovecot_config(dovecot, mail_user, host_policy=HostPolicy(AllowList(), network))
    with pytest.raises(SourceConfigError, match="loopback"):
        open_source(config).connect()
    diagnosis = diagnose(config)
    assert [(s.name, s.ok) for s in diagnosis.steps] == [("resolve", False)]
    assert "loopback" in (diagnosis.steps[0].error or "")
    assert network.dials == []


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_pinned_imap_tls_verifies_the_name_not_the_address(
    dovecot: Dovecot, network: FakeNetwork, tls: str
) -> None:
    """Dovecot's certificate names `localhost` and 127.0.0.1. Reached as `localhost` it is
    trusted; reached as another name that resolves to 127.0.0.1 it is not: the check used the
    name, although the connection went to the address."""
    context = ssl.create_default_context(cafile=str(dovecot.certificate.cert_path))
    port = dovecot.ports.imaps if tls == "implicit" else dovecot.ports.imap
    network.answer("mail.other-name.example", [dovecot.host])

    def open_as(host: str) -> PinnedIMAP4:
        implicit = context if tls == "implicit" else None
        client = PinnedIMAP4(host, port, route=Route(_loopback(network), implicit), timeout=5)
        if tls == "starttls":
            try:
                client.starttls(context)
            except BaseException:
                with contextlib.suppress(OSError):
                    client.shutdown()
                raise
        return client

    client = open_as("localhost")
    assert client.capability()[0] == "OK"
    client.logout()
    with pytest.raises(ssl.SSLCertVerificationError, match=r"mail\.other-name\.example"):
        open_as("mail.other-name.example")
    assert {address for address, _ in network.dials} == {dovecot.host}


def test_pinned_pop3_implicit_tls_verifies_the_name(dovecot: Dovecot, network: FakeNetwork) -> None:
    context = ssl.create_default_context(cafile=str(dovecot.certificate.cert_path))
    network.answer("pop.other-name.example", [dovecot.host])
    route = Route(_loopback(network), context)
    client = PinnedPOP3("localhost", dovecot.ports.pop3s, route=route, timeout=5)
    assert client.getwelcome().startswith(b"+OK")
    client.quit()
    with pytest.raises(ssl.SSLCertVerificationError):
        PinnedPOP3("pop.other-name.example", dovecot.ports.pop3s, route=route, timeout=5)


@pytest.mark.parametrize(
    ("protocol", "security"),
    [("imap", "none"), ("imap", "starttls"), ("pop3", "none"), ("pop3", "starttls")],
)
def test_source_other_service_banner_is_not_repeated(
    dovecot: Dovecot,
    mail_user: MailUser,
    banner_server: BannerServer,
    protocol: str,
    security: str,
) -> None:
    config = dovecot_config(
        dovecot, mail_user, protocol, port=banner_server.port, security=security
    )
    with pytest.raises(SourceConnectionError) as failed:
        open_source(config).connect()
    words = "an IMAP" if protocol == "imap" else "a POP3"
    assert f"did not answer as {words} server" in str(failed.value)
    diagnosis = diagnose(config)
    assert not diagnosis.ok and banner_server.connections >= 2
    assert not reflects(str(failed.value)) and not reflects(str(diagnosis.to_dict()))


def test_source_other_service_implicit_tls_reports_tls_in_own_words(
    dovecot: Dovecot,
    mail_user: MailUser,
    banner_server: BannerServer,
) -> None:
    config = dovecot_config(dovecot, mail_user, port=banner_server.port, security="ssl")
    with pytest.raises(SourceError) as failed:
        open_source(config).connect()
    diagnosis = diagnose(config)
    assert [(s.name, s.ok) for s in diagnosis.steps][-1] == ("tls", False)
    assert not reflects(str(failed.value)) and not reflects(str(diagnosis.to_dict()))


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_smtp_other_service_banner_is_not_repeated(
    smtp_server: SmtpServer, banner_server: BannerServer, security: str
) -> None:
    settings = sender_settings(smtp_server, port=banner_server.port, security=security)
    with pytest.raises(SendError) as failed:
        SmtpSender(settings).send(sample_message())
    assert failed.value.step == "connect"
    assert not reflects(str(failed.value))
    if security != "ssl":
        assert "did not answer as an SMTP server" in str(failed.value)
