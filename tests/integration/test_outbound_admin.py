"""Outbound over real SMTP (aiosmtpd), and its admin API: secrets write-only, clear 400s,
tests that report each step, audit lists and retry, one tenant's data only."""

from __future__ import annotations

import pytest

from connector.outbound.delivery import SendError, Steps
from connector.outbound.smtp import SmtpSender
from connector.storage.outbox import NewMessage, Outbox
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import AdminApi, make_admin_api
from tests.servers.smtp import SmtpServer, sample_message, sender_settings


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url



def test_smtp_starttls_password_and_implicit_tls_xoauth2_deliver(smtp_server: SmtpServer) -> None:
    steps = Steps()
    SmtpSender(sender_settings(smtp_server)).send(sample_message(), steps)
    assert [s.name for s in steps.taken] == ["connect", "tls", "authenticate", "send"]
    oauth = sender_settings(
        smtp_server,
        port=smtp_server.ssl_port,
        security="ssl",
        password=None,
        access_token=lambda: smtp_server.token,
    )
    SmtpSender(oauth).send(sample_message())
    assert [d.recipients for d in smtp_server.delivered] == [("jo@customer.example",)] * 2


def test_smtp_wrong_password_and_refusals_say_whether_to_retry(smtp_server: SmtpServer) -> None:
    with pytest.raises(SendError) as refused:
        SmtpSender(sender_settings(smtp_server, password="wrong")).send(sample_message())
    assert refused.value.step == "authenticate" and not refused.value.retryable
    assert "535" in str(refused.value)
    smtp_server.refuse_next("550 5.1.1 no such user")
    with pytest.raises(SendError) as permanent:
        SmtpSender(sender_settings(smtp_server)).send(sample_message())
    assert permanent.value.step == "send" and not permanent.value.retryable
    smtp_server.refuse_next("451 4.7.1 greylisted")
    with pytest.raises(SendError) as temporary:
        SmtpSender(sender_settings(smtp_server)).send(sample_message())
    assert temporary.value.retryable
    with pytest.raises(SendError) as closed:
        SmtpSender(sender_settings(smtp_server, port=1)).send(sample_message())
    assert closed.value.step == "connect" and closed.value.retryable
    assert smtp_server.delivered == []


def test_outbound_api_connection_secret_write_only_and_test_reports_steps(
    api: AdminApi, smtp_server: SmtpServer
) -> None:
    initial = api.call("GET", "/outbound-connection").json()
    assert initial["configured"] is False and initial["status"] == "unknown"
    body = {
        "host": smtp_server.host,
        "port": smtp_server.port,
        "security": "starttls",
        "verify_tls": False,
        "username": smtp_server.username,
        "from_address": "notify@support.example",
        "timeout_seconds": 5,
    }
    missing = api.call("PUT", "/outbound-connection", json=body)
    assert missing.status_code == 400 and missing.json()["field"] == "password"
    saved = api.call("PUT", "/outbound-connection", json={**body, "password": smtp_server.password})
    assert saved.status_code == 200, saved.text
    assert saved.json()["has_password"] is True and saved.json()["status"] == "unknown"
    assert smtp_server.password not in saved.text
    kept = api.call("PUT", "/outbound-connection", json=body)  # no password: the stored one
    assert kept.status_code == 200 and kept.json()["has_password"] is True

    tested = api.call("POST", "/outbound-connection/test", json={"to": "me@customer.example"})
    report = tested.json()
    assert report["ok"] is True, report
    assert [s["name"] for s in report["steps"]] == [
        "configure",
        "connect",
        "tls",
        "authenticate",
        "send",
    ]
    assert smtp_server.delivered[-1].recipients == ("me@customer.example",)
    assert api.call("GET", "/outbound-connection").json()["status"] == "ok"

    wrong = {**body, "password": "wrong"}
    failed = api.call(
        "POST", "/outbound-connection/test", json={"to": "me@customer.example", "connection": wrong}
    ).json()
    assert failed["ok"] is False and failed["steps"][-1]["name"] == "authenticate"
    assert "535" in failed["steps"][-1]["error"]
    bad_to = api.call("POST", "/outbound-connection/test", json={"to": "nobody"})
    assert bad_to.status_code == 400 and bad_to.json()["field"] == "to"


def test_outbound_api_settings_templates_checked(api: AdminApi) -> None:
    defaults = api.call("GET", "/notification-settings").json()
    assert defaults["acknowledgement"] is False and defaults["retention_days"] == 30
    assert "comment_subject" in defaults["default_templates"]
    broken = api.call(
        "PUT", "/notification-settings", json={"templates": {"comment_html": "{{ oops "}}
    )
    assert broken.status_code == 400 and broken.json()["field"] == "templates.comment_html"
    huge = api.call(
        "PUT",
        "/notification-settings",
        json={"templates": {"status_text": "{{ 'a' * 300000000 }}"}},
    )
    assert huge.status_code == 400 and huge.json()["field"] == "templates.status_text"
    assert "longer than" in huge.json()["error"]
    saved = api.call(
        "PUT",
        "/notification-settings",
        json={
            "retention_days": 7,
            "projects": {"SUP": {"enabled": False, "events": []}},
            "templates": {"status_subject": "{{ issue_key }}: {{ status }}"},
        },
    )
    assert saved.status_code == 200, saved.text
    again = api.call("GET", "/notification-settings").json()
    assert again["retention_days"] == 7 and again["projects"]["SUP"]["enabled"] is False
    assert again["templates"] == {"status_subject": "{{ issue_key }}: {{ status }}"}


def test_outbound_api_messages_list_retry_and_tenant_isolation(api: AdminApi) -> None:
    runtime = api.app.runtime
    outbox = Outbox(runtime.engine, runtime.secrets)
    queued = outbox.enqueue(
        NewMessage(
            tenant_id=api.tenant_id,
            kind="notification",
            dedupe_key="k1",
            recipient="jo@customer.example",
            subject="[SUP-1] Hi",
            message_id="<m1@x.example>",
            raw=sample_message().as_bytes(),
            issue_key="SUP-1",
        )
    )
    assert queued is not None
    early = api.call("POST", f"/outbound-messages/{queued.id}/retry")
    assert early.status_code == 409
    outbox.finish(queued.id, "failed", "send: 550 no such user")
    listed = api.call("GET", "/outbound-messages?status=failed").json()["messages"]
    assert [(m["recipient"], m["status"], m["error"]) for m in listed] == [
        ("jo@customer.example", "failed", "send: 550 no such user")
    ]
    retried = api.call("POST", f"/outbound-messages/{queued.id}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    assert api.call("GET", "/webhook-events").json() == {"events": [], "next_before_id": None}
    assert api.call("GET", "/webhook-events?status=nope").json()["field"] == "status"

    with FakeJira(app_key="mail-connector", key_server=api.jira.key_server) as other:
        other_api = make_admin_api(api.app, other)
        assert other_api.call("GET", "/outbound-messages").json()["messages"] == []
        assert other_api.call("POST", f"/outbound-messages/{queued.id}/retry").status_code == 404


def test_outbound_api_ids_beyond_64_bits_answer_400_or_404_not_500(api: AdminApi) -> None:
    for path in ("/outbound-messages", "/webhook-events"):
        response = api.call("GET", f"{path}?before_id={2**63}")
        assert response.status_code == 400, (path, response.text)
        assert response.json()["field"] == "before_id"
    assert api.call("POST", f"/outbound-messages/{2**63}/retry").status_code == 404
