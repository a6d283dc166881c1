"""The outbound connection's secrets go only where they were saved for: a stored password to
its own server and user, an OAuth token to its provider's SMTP server over verified TLS. And a
server name that cannot be looked up is a 400 naming `host`, not a 500. Real SMTP (aiosmtpd):
a second server stands for "somewhere else" and accepts the same password, so a leak would
show as mail it received."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.mail_source import SourcePolicy, SourceSpec
from connector.oauth_store import OAuthApp, connected_json
from connector.outbound.delivery import SendError
from connector.outbound.smtp import SmtpSender, SmtpSettings
from connector.outbound_config import ConnectionSpec
from connector.sources.oauth_config import OAuthTokens
from connector.storage.outbound import OutboundRepository
from tests.fakes.network import loopback_policy
from tests.integration.admin_support import AdminApi, outbound_body
from tests.servers.smtp import SmtpServer, running_smtp, sample_message


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[SmtpServer]:
    with running_smtp(tmp_path / "elsewhere") as server:
        yield server


def _test(api: AdminApi, connection: dict[str, Any]) -> Any:
    return api.call(
        "POST",
        "/outbound-connection/test",
        json={"to": "me@customer.example", "connection": connection},
    )


def test_outbound_stored_password_is_never_sent_to_another_endpoint(
    api: AdminApi, smtp_server: SmtpServer, elsewhere: SmtpServer
) -> None:
    saved = api.call(
        "PUT",
        "/outbound-connection",
        json=outbound_body(smtp_server, password=smtp_server.password),
    )
    assert saved.status_code == 200, saved.text
    changes: list[dict[str, Any]] = [
        {"port": elsewhere.port},
        {"host": "localhost", "port": elsewhere.port},
        {"security": "ssl", "port": smtp_server.ssl_port},
        {"verify_tls": True},
        {"username": "someone.else@support.example"},
    ]
    for change in changes:
        for method in ("test", "PUT"):
            body = outbound_body(smtp_server, **change)
            if method == "test":
                answer = _test(api, body)
            else:
                answer = api.call("PUT", "/outbound-connection", json=body)
            assert answer.status_code == 400, (change, method, answer.text)
            assert answer.json()["field"] == "password"
            assert "enter the password again" in answer.json()["error"]
    assert elsewhere.delivered == [] and smtp_server.delivered == []
    stored = OutboundRepository(api.app.runtime.engine, api.app.runtime.secrets)
    connection = stored.connection(api.tenant_id)
    assert connection is not None and connection.spec.port == smtp_server.port

    # Settings that do not change where the password goes keep it.
    same = _test(api, outbound_body(smtp_server, from_name="Support"))
    assert same.json()["ok"] is True, same.text
    # With the password typed again, another server is fine.
    moved = _test(api, outbound_body(elsewhere, password=elsewhere.password))
    assert moved.json()["ok"] is True, moved.text
    assert [d.recipients for d in elsewhere.delivered] == [("me@customer.example",)]


def _oauth_source(api: AdminApi, provider: str, token: str) -> int:
    runtime = api.app.runtime
    spec = SourceSpec(
        name="Gmail inbox",
        protocol="imap",
        host="imap.gmail.com",
        port=993,
        username=SmtpServer.username,
        password="unused",
        project_key="SUP",
        issue_type="Task",
        policy=SourcePolicy(),
    )
    source = runtime.sources.create(api.tenant_id, spec)
    tokens = OAuthTokens(
        access_token=token,
        refresh_token="refresh",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        scopes=("https://mail.google.com/",),
        account=SmtpServer.username,
    )
    app = OAuthApp(provider=provider, client_id="client", client_secret="secret")
    assert runtime.sources.change_oauth(source.id, lambda _: connected_json(app, tokens))
    return source.id


def test_outbound_oauth_smtp_only_to_the_providers_server_over_verified_tls(
    api: AdminApi, smtp_server: SmtpServer
) -> None:
    source_id = _oauth_source(api, "google", smtp_server.token)
    base: dict[str, Any] = {
        "auth": "oauth",
        "source_id": source_id,
        "host": "smtp.gmail.com",
        "port": 587,
        "security": "starttls",
        "from_address": "notify@support.example",
    }
    refused: dict[str, dict[str, Any]] = {
        "host": {"host": smtp_server.host, "port": smtp_server.port},
        "verify_tls": {"verify_tls": False},
    }
    for field, change in refused.items():
        for answer in (
            api.call("PUT", "/outbound-connection", json={**base, **change}),
            _test(api, {**base, **change}),
        ):
            assert answer.status_code == 400, answer.text
            assert answer.json()["field"] == field
    refused_none = api.call("PUT", "/outbound-connection", json={**base, "security": "none"})
    assert refused_none.status_code == 400
    microsoft = api.call("PUT", "/outbound-connection", json={**base, "host": "smtp.office365.com"})
    assert microsoft.status_code == 400 and "smtp.gmail.com" in microsoft.json()["error"]
    assert api.call("PUT", "/outbound-connection", json=base).status_code == 200

    # A connection stored some other way is still never used to hand the token elsewhere.
    OutboundRepository(api.app.runtime.engine, api.app.runtime.secrets).save_connection(
        api.tenant_id,
        ConnectionSpec(
            auth="oauth",
            source_id=source_id,
            host=smtp_server.host,
            port=smtp_server.port,
            verify_tls=False,
            username=smtp_server.username,
            from_address="notify@support.example",
            timeout_seconds=5,
        ),
    )
    report = api.call("POST", "/outbound-connection/test", json={"to": "me@customer.example"})
    assert report.json()["ok"] is False
    assert report.json()["steps"][-1]["name"] == "configure"
    assert "smtp.gmail.com" in report.json()["steps"][-1]["error"]
    assert smtp_server.delivered == []


@pytest.mark.parametrize("host", ["smtp..example.com", "a" * 64 + ".example.com"])
def test_outbound_unusable_host_answers_400_naming_host(
    api: AdminApi, smtp_server: SmtpServer, host: str
) -> None:
    body = outbound_body(smtp_server, host=host, password=smtp_server.password)
    saved = api.call("PUT", "/outbound-connection", json=body)
    assert saved.status_code == 400 and saved.json()["field"] == "host", saved.text
    tested = _test(api, body)
    assert tested.status_code == 400 and tested.json()["field"] == "host", tested.text
    assert "not a valid server name" in tested.json()["error"]


def test_smtp_sender_unusable_host_is_a_final_send_error() -> None:
    settings = SmtpSettings(
        host="smtp..example.com", port=587, security="starttls", host_policy=loopback_policy()
    )
    with pytest.raises(SendError) as caught:
        SmtpSender(settings).send(sample_message())
    assert caught.value.step == "connect" and not caught.value.retryable
    assert "smtp..example.com" in str(caught.value)
