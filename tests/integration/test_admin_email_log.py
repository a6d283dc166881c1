"""`/api/v1/email-log`: newest first, filters, detail with headers and trail, retry of failures;
and the per-source count of today's messages (on every database backend: it is our own SQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.outbound.retention import purge_expired
from connector.outbound_config import NotificationSettings
from connector.outcomes import Outcome
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import AdminApi, make_admin_api


def _record(
    api: AdminApi,
    source_id: int,
    key: str,
    *,
    subject: str = "Printer on fire",
    sender: str = "ann@example.com",
    outcome: str = "created",
    reason: str = "new issue",
    issue_key: str | None = None,
    raw: bytes | None = b"Subject: Printer on fire\r\n\r\nHelp.\r\n",
) -> int:
    log = api.app.runtime.email_log
    entry = log.begin(api.tenant_id, source_id, key, size=120)
    log.describe(
        entry.id,
        message_id=f"<{key}@example.com>",
        digest=None,
        sender=sender,
        sender_name="Ann",
        subject=subject,
        headers=[("From", f"Ann <{sender}>"), ("Subject", subject)],
        raw=raw,
    )
    if outcome != "pending":
        trail = ["parsed", f"outcome: {outcome}"]
        log.finish(entry.id, Outcome(outcome), reason, issue_key=issue_key, trail=trail)
    return entry.id


@pytest.fixture
def rows(api: AdminApi) -> dict[str, Any]:
    """Two sources; five messages between them, oldest first."""
    one, two = api.create(name="One")["id"], api.create(name="Two")["id"]
    ids = {
        "created": _record(api, one, "1", issue_key="SUP-1"),
        "ignored": _record(api, one, "2", outcome="ignored", reason="ignored sender @spam"),
        "failed": _record(api, two, "3", outcome="failed", reason="Jira answered 400: summary"),
        "no_raw": _record(api, two, "4", outcome="failed", reason="too large", raw=None),
        "pending": _record(api, two, "5", subject="Still going", outcome="pending"),
    }
    return {"one": one, "two": two, **ids}


def _ids(api: AdminApi, query: str = "") -> list[int]:
    response = api.call("GET", f"/email-log{query}")
    assert response.status_code == 200, response.text
    return [entry["id"] for entry in response.json()["entries"]]


def test_email_log_list_newest_first(api: AdminApi, rows: dict[str, Any]) -> None:
    names = ("pending", "no_raw", "failed", "ignored", "created")
    assert _ids(api) == [rows[name] for name in names]


def test_email_log_list_filters_by_source_outcome_and_text(
    api: AdminApi, rows: dict[str, Any]
) -> None:
    assert _ids(api, f"?source_id={rows['one']}") == [rows["ignored"], rows["created"]]
    assert _ids(api, "?outcome=failed") == [rows["no_raw"], rows["failed"]]
    assert _ids(api, "?q=spam") == [rows["ignored"]]
    assert _ids(api, "?q=SUP-1") == [rows["created"]]
    assert _ids(api, f"?source_id={rows['two']}&outcome=pending") == [rows["pending"]]


def test_email_log_list_pages_with_before_id(api: AdminApi, rows: dict[str, Any]) -> None:
    first = api.call("GET", "/email-log?limit=2").json()
    assert [e["id"] for e in first["entries"]] == [rows["pending"], rows["no_raw"]]
    assert first["next_before_id"] == rows["no_raw"]
    rest = api.call("GET", f"/email-log?limit=10&before_id={first['next_before_id']}").json()
    assert [e["id"] for e in rest["entries"]] == [rows["failed"], rows["ignored"], rows["created"]]
    assert rest["next_before_id"] is None


def test_email_log_list_shows_source_name_and_issue_link(
    api: AdminApi, rows: dict[str, Any]
) -> None:
    entries = api.call("GET", f"/email-log?source_id={rows['one']}").json()["entries"]
    created = entries[-1]
    assert created["source_name"] == "One"
    assert created["issue_url"] == f"{api.jira.base_url}/browse/SUP-1"
    assert created["sender"] == "ann@example.com"
    assert entries[0]["issue_url"] is None


def test_email_log_list_bad_filter_names_field(api: AdminApi) -> None:
    cases = {"outcome=lost": "outcome", "limit=0": "limit", "source_id=x": "source_id"}
    more = {"from=a": "from", "received_to=2026-13-01": "received_to", "limit=201": "limit"}
    for query, field in {**cases, **more}.items():
        response = api.call("GET", f"/email-log?{query}")
        assert response.status_code == 400, query
        assert response.json()["field"] == field


def test_email_log_numbers_beyond_64_bits_answer_400_or_404_not_500(api: AdminApi) -> None:
    for name in ("source_id", "before_id", "limit"):
        response = api.call("GET", f"/email-log?{name}={2**63}")
        assert response.status_code == 400, (name, response.text)
        assert response.json()["field"] == name
    for suffix in ("", "/retry"):
        method = "POST" if suffix else "GET"
        assert api.call(method, f"/email-log/{2**64}{suffix}").status_code == 404


def test_email_log_detail_has_headers_and_trail(api: AdminApi, rows: dict[str, Any]) -> None:
    response = api.call("GET", f"/email-log/{rows['failed']}")
    assert response.status_code == 200
    detail = response.json()
    assert detail["headers"] == [
        {"name": "From", "value": "Ann <ann@example.com>"},
        {"name": "Subject", "value": "Printer on fire"},
    ]
    assert detail["trail"] == ["parsed", "outcome: failed"]
    assert detail["reason"] == "Jira answered 400: summary"
    assert detail["retryable"] is True
    assert detail["message_key"] == "3"


def test_email_log_detail_other_tenant_answers_404(api: AdminApi, rows: dict[str, Any]) -> None:
    with FakeJira(app_key="mail-connector", key_server=api.jira.key_server) as other:
        stranger = make_admin_api(api.app, other)
        for method, path in (("GET", ""), ("POST", "/retry")):
            response = stranger.call(method, f"/email-log/{rows['failed']}{path}")
            assert response.status_code == 404
        assert stranger.call("GET", "/email-log").json()["entries"] == []
    unchanged = api.app.runtime.email_log.get(api.tenant_id, rows["failed"])
    assert unchanged is not None and unchanged.outcome == "failed"


def test_email_log_retry_failed_makes_it_pending(api: AdminApi, rows: dict[str, Any]) -> None:
    failure = api.call("GET", f"/email-log/{rows['failed']}").json()["reason"]
    response = api.call("POST", f"/email-log/{rows['failed']}/retry")
    assert response.status_code == 200
    assert response.json()["outcome"] == "pending"
    assert response.json()["attempts"] == 0
    # Pending again, and the reason says so rather than repeating the failure as current.
    assert response.json()["reason"] == f"retry asked for by an admin; it had failed: {failure}"
    stored = api.app.runtime.email_log.get(api.tenant_id, rows["failed"])
    assert stored is not None and stored.outcome == "pending"


def test_email_log_retry_not_failed_or_not_kept_answers_409(
    api: AdminApi, rows: dict[str, Any]
) -> None:
    for name in ("created", "pending", "no_raw"):
        before = api.app.runtime.email_log.get(api.tenant_id, rows[name])
        response = api.call("POST", f"/email-log/{rows[name]}/retry")
        assert response.status_code == 409, name
        assert api.app.runtime.email_log.get(api.tenant_id, rows[name]) == before
    assert "not kept" in response.json()["error"]


def test_email_log_reopen_after_retention_purge_leaves_it_failed(
    api: AdminApi, rows: dict[str, Any]
) -> None:
    """The purge may run between the API's look at the entry and its reopening: the reopen
    itself must refuse, or the entry would wait, pending and without its copy, forever."""
    runtime = api.app.runtime
    runtime.outbound.save_settings(api.tenant_id, NotificationSettings(retention_days=0))
    assert runtime.email_log.raw(api.tenant_id, rows["failed"]) is not None
    purge_expired(runtime, datetime.now(UTC))
    assert runtime.email_log.reopen(api.tenant_id, rows["failed"]) is None
    stored = runtime.email_log.get(api.tenant_id, rows["failed"])
    assert stored is not None and stored.outcome == "failed"

    response = api.call("POST", f"/email-log/{rows['failed']}/retry")
    assert response.status_code == 409
    assert "purged" in response.json()["error"]
    stored = runtime.email_log.get(api.tenant_id, rows["failed"])
    assert stored is not None and stored.outcome == "failed"


def test_email_log_retry_unknown_answers_404(api: AdminApi) -> None:
    assert api.call("POST", "/email-log/987654/retry").status_code == 404


def test_list_sources_counts_messages_today_per_source(api: AdminApi) -> None:
    first, second = api.create(name="One"), api.create(name="Two")
    for index in range(3):
        api.app.runtime.email_log.begin(api.tenant_id, first["id"], f"INBOX:1:{index}", size=10)
    sources = api.call("GET", "/mail-sources").json()["sources"]
    assert [(s["name"], s["messages_today"]) for s in sources] == [("One", 3), ("Two", 0)]
    assert api.call("GET", f"/mail-sources/{second['id']}").json()["messages_today"] == 0
    email_log = api.app.runtime.email_log
    assert email_log.messages_today(api.tenant_id) == {first["id"]: 3}
    # Seen from tomorrow, today's messages are yesterday's: they no longer count.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert email_log.messages_today(api.tenant_id, now=tomorrow) == {}
