"""Connecting a source through the admin API, against the test Dovecot: test, enable with the
backlog estimate and its acknowledgement, disable, resume, poll."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.sources.base import ImapCursor, cursor_from_json
from tests.integration.admin_support import AdminApi, dovecot_body
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.messages import build_message


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Mailbox behaviour does not depend on the database: one backend keeps this file fast."""
    return sqlite_url



@pytest.fixture
def source(api: AdminApi, dovecot: Dovecot, mail_user: MailUser) -> dict[str, Any]:
    response = api.call("POST", "/mail-sources", json=dovecot_body(dovecot, mail_user))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _cursor(api: AdminApi, source_id: int) -> ImapCursor:
    stored = api.app.runtime.sources.get(api.tenant_id, source_id)
    assert stored is not None and stored.cursor is not None
    cursor = cursor_from_json(stored.cursor)
    assert isinstance(cursor, ImapCursor)
    return cursor


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_diagnose_unsaved_wrong_password_shows_server_words(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser
) -> None:
    body = dovecot_body(dovecot, mail_user, password="not-the-password")
    response = api.call("POST", "/mail-sources/test", json=body)
    assert response.status_code == 200
    diagnosis = response.json()
    assert diagnosis["ok"] is False
    steps = {step["name"]: step for step in diagnosis["steps"]}
    assert steps["connect"]["ok"] is True
    assert steps["authenticate"]["ok"] is False
    assert "[AUTHENTICATIONFAILED] Authentication failed." in steps["authenticate"]["error"]
    assert "not-the-password" not in response.text
    assert api.call("GET", "/mail-sources").json() == {"sources": []}


def test_diagnose_unsaved_without_password_answers_400(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser
) -> None:
    response = api.call(
        "POST", "/mail-sources/test", json=dovecot_body(dovecot, mail_user, password=...)
    )
    assert response.status_code == 400
    assert response.json()["field"] == "password"


def test_diagnose_saved_uses_stored_password_and_counts(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser, source: dict[str, Any]
) -> None:
    dovecot.deliver(mail_user, build_message("already there"))
    response = api.call("POST", f"/mail-sources/{source['id']}/test")
    assert response.status_code == 200
    diagnosis = response.json()
    assert diagnosis["ok"] is True, diagnosis
    assert diagnosis["steps"][-1]["data"]["total"] == 1
    assert any("certificate checks are off" in w for w in diagnosis["warnings"])


def test_diagnose_saved_with_edited_folder_reports_missing_folder(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser, source: dict[str, Any]
) -> None:
    body = dovecot_body(dovecot, mail_user, password=..., folder="Nowhere")
    response = api.call("POST", f"/mail-sources/{source['id']}/test", json=body)
    steps = {step["name"]: step for step in response.json()["steps"]}
    assert steps["authenticate"]["ok"] is True
    assert steps["folder"]["ok"] is False
    assert "'Nowhere' does not exist" in steps["folder"]["error"]


def test_enable_first_time_starts_after_existing_mail(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser, source: dict[str, Any]
) -> None:
    for subject in ("old one", "old two"):
        dovecot.deliver(mail_user, build_message(subject))
    before = datetime.now(UTC)
    response = api.call("POST", f"/mail-sources/{source['id']}/enable")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["estimate"]["messages"] == 0
    assert answer["estimate"]["start"] == "now"
    assert answer["source"]["enabled"] is True
    assert answer["source"]["status"] == "unknown"
    first = datetime.fromisoformat(answer["source"]["first_connected_at"])
    assert before - timedelta(seconds=1) <= first <= datetime.now(UTC)
    assert _cursor(api, source["id"]).last_uid == 2


def test_enable_backlog_over_threshold_needs_acknowledgement(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser, source: dict[str, Any]
) -> None:
    dovecot.deliver_files(mail_user, [build_message(f"backlog {n}") for n in range(101)])
    path = f"/mail-sources/{source['id']}/enable"
    refused = api.call("POST", path, json={"process_existing_since": _today()})
    assert refused.status_code == 409
    assert refused.json()["field"] == "acknowledge"
    assert refused.json()["estimate"]["messages"] == 101
    assert api.call("GET", f"/mail-sources/{source['id']}").json()["enabled"] is False
    agreed = api.call("POST", path, json={"process_existing_since": _today(), "acknowledge": True})
    assert agreed.status_code == 200, agreed.text
    assert agreed.json()["estimate"]["messages"] == 101
    assert agreed.json()["estimate"]["start"] == "since"
    assert agreed.json()["source"]["enabled"] is True
    assert _cursor(api, source["id"]).last_uid == 0


def test_enable_small_backlog_needs_no_acknowledgement(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser, source: dict[str, Any]
) -> None:
    for n in range(3):
        dovecot.deliver(mail_user, build_message(f"recent {n}"))
    response = api.call(
        "POST",
        f"/mail-sources/{source['id']}/enable",
        json={"process_existing_since": _today()},
    )
    assert response.status_code == 200, response.text
    assert response.json()["estimate"]["messages"] == 3
    assert _cursor(api, source["id"]).last_uid == 0


def test_enable_wrong_password_stays_disabled_with_server_words(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser
) -> None:
    created = api.create(**dovecot_body(dovecot, mail_user, password="wrong"))
    response = api.call("POST", f"/mail-sources/{created['id']}/enable")
    assert response.status_code == 400
    error = response.json()
    assert error["step"] == "authenticate"
    assert error["field"] == "password"
    assert error["server_message"] == "[AUTHENTICATIONFAILED] Authentication failed."
    shown = api.call("GET", f"/mail-sources/{created['id']}").json()
    assert shown["enabled"] is False
    assert shown["first_connected_at"] is None


def test_enable_unreachable_server_answers_502(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser
) -> None:
    with socket.socket() as sock:
        sock.bind((dovecot.host, 0))
        port = sock.getsockname()[1]
    created = api.create(**dovecot_body(dovecot, mail_user, port=port))
    response = api.call("POST", f"/mail-sources/{created['id']}/enable")
    assert response.status_code == 502
    assert response.json()["step"] == "connect"
    assert api.call("GET", f"/mail-sources/{created['id']}").json()["enabled"] is False


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"process_existing_since": "yesterday"}, "process_existing_since"),
        ({"process_existing_since": "2999-01-01"}, "process_existing_since"),
        ({"acknowledge": "yes"}, "acknowledge"),
        ({"skip_existing": True, "process_existing_since": "2025-01-01"}, "skip_existing"),
        ({"from": "now"}, "from"),
    ],
)
def test_enable_invalid_option_names_field(
    api: AdminApi, source: dict[str, Any], options: dict[str, Any], field: str
) -> None:
    response = api.call("POST", f"/mail-sources/{source['id']}/enable", json=options)
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_enable_after_disable_resumes_with_mail_that_arrived(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser, source: dict[str, Any]
) -> None:
    path = f"/mail-sources/{source['id']}"
    assert api.call("POST", path + "/enable").status_code == 200
    disabled = api.call("POST", path + "/disable")
    assert disabled.status_code == 200
    assert disabled.json()["source"]["status"] == "disabled"
    for n in range(2):
        dovecot.deliver(mail_user, build_message(f"while paused {n}"))
    resumed = api.call("POST", path + "/enable")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["estimate"]["start"] == "resume"
    assert resumed.json()["estimate"]["messages"] == 2
    assert _cursor(api, source["id"]).last_uid == 0
    api.call("POST", path + "/disable")
    skipped = api.call("POST", path + "/enable", json={"skip_existing": True})
    assert skipped.json()["estimate"]["start"] == "now"
    assert _cursor(api, source["id"]).last_uid == 2


def test_poll_disabled_source_answers_409(api: AdminApi, source: dict[str, Any]) -> None:
    response = api.call("POST", f"/mail-sources/{source['id']}/poll")
    assert response.status_code == 409
    assert "enable" in response.json()["error"]


def test_poll_enabled_empty_mailbox_answers_at_once_and_ends_with_no_messages(
    api: AdminApi, source: dict[str, Any]
) -> None:
    path = f"/mail-sources/{source['id']}"
    assert api.call("POST", path + "/enable").status_code == 200
    started = api.call("POST", path + "/poll")
    assert started.status_code == 202, started.text
    assert started.headers["Location"] == f"/api/v1{path}/poll"
    assert started.json()["poll"]["state"] in ("requested", "running", "idle")
    poll = api.poll(source["id"])
    assert poll["ok"] is True and poll["finished_at"] is not None
    assert (poll["fetched"], poll["processed"], poll["failed"]) == (0, 0, 0)
    assert poll["message"] == "no new mail"


def test_poll_new_mail_answers_counts_and_logs_it(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser, source: dict[str, Any]
) -> None:
    path = f"/mail-sources/{source['id']}"
    assert api.call("POST", path + "/enable").status_code == 200
    dovecot.deliver(mail_user, build_message("Printer on fire", sender="ann@example.com"))
    poll = api.poll(source["id"])
    assert poll["counts"] == {"created": 1}
    assert (poll["fetched"], poll["processed"], poll["failed"]) == (1, 1, 0)
    # The list carries the same figures, after a reload too.
    listed = api.call("GET", "/mail-sources").json()["sources"]
    assert [s["poll"]["counts"] for s in listed] == [{"created": 1}]
    entries = api.call("GET", f"/email-log?source_id={source['id']}").json()["entries"]
    assert [(e["subject"], e["outcome"]) for e in entries] == [("Printer on fire", "created")]
    assert entries[0]["issue_key"] in api.jira.issue_keys()
