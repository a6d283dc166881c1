"""The admin API refuses hosts the app may not connect to, when they are saved and again when
they are used, and a connection test never hands another service's words to the caller.

The app's host lookups are answered by its `FakeNetwork` (`running_app.network`), which also
refuses to dial anything but loopback: `dials` shows that refused hosts were never contacted.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.jira import FakeJira
from tests.fakes.network import FakeNetwork
from tests.integration.admin_support import AdminApi, dovecot_body, make_admin_api, source_body
from tests.integration.conftest import RunningApp
from tests.servers.banner import BannerServer, reflects
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp import SmtpServer, sender_settings

UNSPECIFIED = "0.0.0.0"  # noqa: S104 - an address under test; nothing binds to it

INTERNAL = {
    "metadata.cloud.example": "169.254.169.254",
    "intranet.corp.example": "192.168.1.10",
    "cgnat.corp.example": "100.64.3.4",
    "v6.corp.example": "fd00::25",
}
# Literal addresses, and names the fake network answers with an internal address.
REFUSED_HOSTS = [
    "169.254.169.254",
    "10.0.0.5",
    UNSPECIFIED,
    "::ffff:10.0.0.1",
    "fe80::1",
    "224.0.0.1",
    *INTERNAL,
]
_CONNECTION_FIELDS = ("host", "port", "security", "verify_tls", "username", "password")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def api(running_app: RunningApp, fake_jira: FakeJira) -> AdminApi:
    for name, address in INTERNAL.items():
        running_app.network.answer(name, [address])
    return make_admin_api(running_app, fake_jira)


def _network(api: AdminApi) -> FakeNetwork:
    return api.app.network


def _smtp_body(server: SmtpServer, **changes: Any) -> dict[str, Any]:
    """The admin API's outbound connection through `server`, as `sender_settings` has it."""
    settings = sender_settings(server)
    body = {name: getattr(settings, name) for name in _CONNECTION_FIELDS}
    return body | {"from_address": "notify@support.example"} | changes


def _refused_on_host(response: Any) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "host"
    assert "ALLOWED_INTERNAL_HOSTS" in response.json()["error"]


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_source_create_internal_host_refused_400_and_not_saved(
    api: AdminApi, host: str, protocol: str
) -> None:
    response = api.call("POST", "/mail-sources", json=source_body(host=host, protocol=protocol))
    _refused_on_host(response)
    assert api.call("GET", "/mail-sources").json() == {"sources": []}
    assert _network(api).dials == []


def test_source_update_internal_host_refused_and_stored_host_kept(api: AdminApi) -> None:
    created = api.create()
    path = f"/mail-sources/{created['id']}"
    response = api.call("PUT", path, json=source_body(host="metadata.cloud.example"))
    _refused_on_host(response)
    assert api.call("GET", path).json()["host"] == "imap.example.com"


def test_source_create_unresolvable_host_refused_400(api: AdminApi) -> None:
    response = api.call("POST", "/mail-sources", json=source_body(host="mail.nowhere.invalid"))
    assert response.status_code == 400 and response.json()["field"] == "host"
    assert "does not resolve" in response.json()["error"]


def test_source_public_host_saved_after_one_checked_lookup(api: AdminApi) -> None:
    api.create(host="imap.example.com")
    assert "imap.example.com" in _network(api).lookups
    assert _network(api).dials == []  # saving checks the name, it does not connect


def test_source_diagnose_internal_host_stops_at_resolve_without_connecting(
    api: AdminApi,
) -> None:
    body = source_body(host="intranet.corp.example", port=143, security="none")
    diagnosis = api.call("POST", "/mail-sources/test", json=body).json()
    assert [(s["name"], s["ok"]) for s in diagnosis["steps"]] == [("resolve", False)]
    assert "private address" in diagnosis["steps"][0]["error"]
    assert "192.168.1.10" not in str(diagnosis)
    assert _network(api).dials == []


def test_source_name_turning_private_after_save_refused_at_enable(api: AdminApi) -> None:
    """DNS rebinding between save and use: the answer at connect time is checked again."""
    _network(api).answer("flip.example", ["93.184.215.14"], ["10.1.2.3"])
    created = api.create(host="flip.example")
    response = api.call("POST", f"/mail-sources/{created['id']}/enable")
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "host" and "private" in response.json()["error"]
    assert _network(api).dials == []
    assert api.call("GET", f"/mail-sources/{created['id']}").json()["enabled"] is False


@pytest.mark.parametrize("host", ["169.254.169.254", "intranet.corp.example", "::1.2.3.4"])
def test_outbound_internal_host_refused_on_save_and_test(
    api: AdminApi, smtp_server: SmtpServer, host: str
) -> None:
    body = _smtp_body(smtp_server, host=host)
    _refused_on_host(api.call("PUT", "/outbound-connection", json=body))
    assert api.call("GET", "/outbound-connection").json()["configured"] is False
    tested = api.call(
        "POST", "/outbound-connection/test", json={"to": "me@customer.example", "connection": body}
    )
    _refused_on_host(tested)
    assert _network(api).dials == [] and smtp_server.delivered == []


def test_outbound_stored_name_turning_private_refused_at_send(
    api: AdminApi, smtp_server: SmtpServer
) -> None:
    _network(api).answer("smtp.flip.example", ["93.184.215.14"], ["10.9.9.9"])
    saved = api.call(
        "PUT", "/outbound-connection", json=_smtp_body(smtp_server, host="smtp.flip.example")
    )
    assert saved.status_code == 200, saved.text
    report = api.call("POST", "/outbound-connection/test", json={"to": "me@customer.example"})
    step = report.json()["steps"][-1]
    assert (step["name"], step["ok"]) == ("connect", False)
    assert "private" in step["error"]
    assert _network(api).dials == []


@pytest.mark.parametrize(
    ("protocol", "security"),
    [("imap", "none"), ("imap", "starttls"), ("imap", "ssl"), ("pop3", "none"), ("pop3", "ssl")],
)
def test_source_test_of_other_service_does_not_reflect_its_banner(
    api: AdminApi,
    dovecot: Dovecot,
    mail_user: MailUser,
    banner_server: BannerServer,
    protocol: str,
    security: str,
) -> None:
    body = dovecot_body(
        dovecot, mail_user, protocol=protocol, port=banner_server.port, security=security
    )
    if protocol == "pop3":
        body["after_processing"] = "delete"
    response = api.call("POST", "/mail-sources/test", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is False
    assert banner_server.connections >= 1
    assert not reflects(response.text), response.text


def test_source_enable_against_other_service_does_not_reflect_its_banner(
    api: AdminApi,
    dovecot: Dovecot,
    mail_user: MailUser,
    banner_server: BannerServer,
) -> None:
    body = dovecot_body(dovecot, mail_user, port=banner_server.port, security="none")
    created = api.call("POST", "/mail-sources", json=body).json()
    response = api.call("POST", f"/mail-sources/{created['id']}/enable")
    assert response.status_code == 502
    assert "did not answer as an IMAP server" in response.json()["error"]
    assert not reflects(response.text), response.text


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_outbound_test_of_other_service_does_not_reflect_its_banner(
    api: AdminApi,
    smtp_server: SmtpServer,
    banner_server: BannerServer,
    security: str,
) -> None:
    body = _smtp_body(smtp_server, port=banner_server.port, security=security)
    report = api.call(
        "POST", "/outbound-connection/test", json={"to": "me@customer.example", "connection": body}
    )
    assert report.status_code == 200, report.text
    assert report.json()["ok"] is False and banner_server.connections >= 1
    assert not reflects(report.text), report.text
