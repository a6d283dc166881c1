"""The email log as a place to fix things: filters by sender, project, issue and day; retry of
many failed messages at once; the original message to download while it is kept; what kind
of failure it was; the failed messages counted on the sources list; and "process anyway" for
a message the filters ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.admin_support import AdminApi, dovecot_body
from tests.integration.test_admin_email_log import _record, rows  # noqa: F401
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.messages import build_message

RAW = b"Subject: Printer on fire\r\n\r\nHelp.\r\n"


def _subjects(api: AdminApi, query: str) -> list[str]:
    response = api.call("GET", f"/email-log?{query}")
    assert response.status_code == 200, response.text
    return [entry["subject"] for entry in response.json()["entries"]]


def test_email_log_filters_by_sender_project_issue_and_day(api: AdminApi) -> None:
    source = api.create(name="One")["id"]
    _record(api, source, "1", subject="In SUP", sender="ann@customer.example", issue_key="SUP-7")
    _record(api, source, "2", subject="In BIL", sender="bob@other.example", issue_key="BIL-1")
    failed = _record(api, source, "3", subject="Never made it", outcome="failed", reason="x")
    log = api.app.runtime.email_log
    log.record_route(failed, {"project_key": "BIL", "rule": 0})
    assert _subjects(api, "sender=CUSTOMER.example") == ["In SUP"]
    assert _subjects(api, "sender=Ann") == ["Never made it", "In BIL", "In SUP"]  # the name
    assert _subjects(api, "issue_key=sup-7") == ["In SUP"]
    # A project: the issues in it, and the mail routed to it that never got there.
    assert _subjects(api, "project_key=BIL") == ["Never made it", "In BIL"]
    today = datetime.now(UTC).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    assert len(_subjects(api, f"received_from={today}&received_to={today}")) == 3
    assert _subjects(api, f"received_to={yesterday}") == []
    assert _subjects(api, f"received_from={today + timedelta(days=1)}") == []


def test_email_log_bulk_retry_retries_what_it_can_and_says_why_not(
    api: AdminApi,
    rows: dict[str, Any],  # noqa: F811
) -> None:
    wanted = [rows["failed"], rows["no_raw"], rows["created"], 999_999, rows["failed"]]
    response = api.call("POST", "/email-log/retry", json={"entry_ids": wanted})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["retried"] == [rows["failed"]]  # once, though named twice
    refused = {item["id"]: item["error"] for item in answer["refused"]}
    assert set(refused) == {rows["no_raw"], rows["created"], 999_999}
    assert "not kept" in refused[rows["no_raw"]]
    assert "only failed messages" in refused[rows["created"]]
    assert api.call("GET", f"/email-log/{rows['failed']}").json()["outcome"] == "pending"
    bodies: list[dict[str, Any]] = [{}, {"entry_ids": []}, {"entry_ids": ["1"]}]
    for body in [*bodies, {"entry_ids": [True]}]:
        bad = api.call("POST", "/email-log/retry", json=body)
        assert bad.status_code == 400 and bad.json()["field"] == "entry_ids", body


def test_email_log_download_original_message_while_kept(
    api: AdminApi,
    rows: dict[str, Any],  # noqa: F811
) -> None:
    response = api.call("GET", f"/email-log/{rows['created']}/message")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("message/rfc822")
    assert response.content == RAW
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="{rows["created"]}-Printer-on-fire.eml"'
    gone = api.call("GET", f"/email-log/{rows['no_raw']}/message")
    assert gone.status_code == 404 and "no longer kept" in gone.json()["error"]


def test_email_log_says_which_failures_a_retry_mends_and_when_postponed_ones_run(
    api: AdminApi,
) -> None:
    source = api.create(name="One")["id"]
    refused = _record(api, source, "1", outcome="failed", reason="Jira: 400 summary required")
    gave_up = _record(
        api, source, "2", outcome="failed", reason="Jira: 503 (gave up after 8 attempts)"
    )
    postponed = _record(api, source, "3", outcome="pending")
    retry_at = datetime.now(UTC) + timedelta(minutes=10)
    api.app.runtime.email_log.postpone(postponed, "Jira: 503", retry_at, ["parsed"])
    entries = {e["id"]: e for e in api.call("GET", "/email-log").json()["entries"]}
    assert entries[refused]["failure"] == "permanent"
    assert entries[gave_up]["failure"] == "transient"
    assert entries[postponed]["failure"] is None
    assert datetime.fromisoformat(entries[postponed]["next_attempt_at"]) == retry_at
    assert entries[refused]["next_attempt_at"] is None


def test_sources_list_counts_failed_messages_per_source(
    api: AdminApi,
    rows: dict[str, Any],  # noqa: F811
) -> None:
    listed = {s["name"]: s for s in api.call("GET", "/mail-sources").json()["sources"]}
    assert listed["One"]["failed_messages"] == 0
    assert listed["Two"]["failed_messages"] == 2
    api.call("POST", f"/email-log/{rows['failed']}/retry")
    two = api.call("GET", f"/mail-sources/{rows['two']}").json()
    assert two["failed_messages"] == 1  # retried: no longer counted


def test_ignored_auto_reply_processed_anyway_becomes_an_issue(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser
) -> None:
    source = api.create(**dovecot_body(dovecot, mail_user))["id"]
    assert api.call("POST", f"/mail-sources/{source}/enable").status_code == 200
    away = build_message("Out of office: printer", sender="jo@customer.example")
    away = away.replace(b"Subject:", b"Auto-Submitted: auto-replied\r\nSubject:", 1)
    dovecot.deliver(mail_user, away)
    assert api.poll(source)["counts"] == {"ignored": 1}
    entry = api.call("GET", f"/email-log?source_id={source}").json()["entries"][0]
    detail = api.call("GET", f"/email-log/{entry['id']}").json()
    assert detail["can_process_anyway"] is True and detail["retryable"] is False

    answer = api.call("POST", f"/email-log/{entry['id']}/process-anyway")
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "pending" and answer.json()["can_process_anyway"] is False
    assert api.poll(source)["counts"] == {"created": 1}
    done = api.call("GET", f"/email-log/{entry['id']}").json()
    assert done["outcome"] == "created" and done["issue_key"] in api.jira.issue_keys()
    assert any("asked to process it anyway" in step for step in done["trail"])
    # Only ignored messages: this one is created now.
    again = api.call("POST", f"/email-log/{entry['id']}/process-anyway")
    assert again.status_code == 409 and "only ignored messages" in again.json()["error"]
