"""Saving a mail source asks Jira whether mail can become issues as set up: the project and
issue type's create metadata, and the fields named in mappings and defaults."""

from __future__ import annotations

import pytest

from tests.integration.admin_support import AdminApi, source_body


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url



def _create(api: AdminApi, **overrides: object) -> tuple[int, dict[str, object]]:
    answer = api.call("POST", "/mail-sources", json=source_body(**overrides))
    return answer.status_code, answer.json()


def test_create_source_required_field_mail_cannot_fill_answers_400(api: AdminApi) -> None:
    team = api.jira.add_custom_field("Team", "option")
    api.jira.add_project("OPS", "Operations", issue_types=("Incident",), required_fields=[team])
    status, body = _create(api, project_key="OPS", issue_type="Incident")
    assert status == 400
    assert body["field"] == "policy.field_defaults"
    assert f"Team ({team})" in str(body["error"]) and "default value" in str(body["error"])
    assert api.app.runtime.sources.search(api.tenant_id) == []

    fixed = {"field_defaults": {team: {"value": "Blue"}}}
    status, body = _create(api, project_key="OPS", issue_type="Incident", policy=fixed)
    assert status == 201, body


def test_create_source_unknown_project_or_type_names_it(api: AdminApi) -> None:
    status, body = _create(api, project_key="NOPE")
    assert (status, body["field"]) == (400, "project_key")
    assert "Jira has no project NOPE" in str(body["error"])
    status, body = _create(api, issue_type="Epic")
    assert (status, body["field"]) == (400, "issue_type")
    assert "SUP has no issue type 'Epic' (it has: Bug, Task)" in str(body["error"])


def test_update_source_to_type_with_required_field_refused_and_unchanged(api: AdminApi) -> None:
    due = "duedate"
    api.jira.add_project("OPS", "Operations", issue_types=("Task",), required_fields=[due])
    source = api.create()
    path = f"/mail-sources/{source['id']}"
    answer = api.call("PUT", path, json=source_body(project_key="OPS"))
    assert answer.status_code == 400
    assert "Due date (duedate)" in answer.json()["error"]
    assert api.call("GET", path).json()["project_key"] == "SUP"
    bad_default = source_body(project_key="OPS", policy={"field_defaults": {due: "tomorrow"}})
    answer = api.call("PUT", path, json=bad_default)
    assert answer.status_code == 400
    assert answer.json()["field"] == "policy.field_defaults"
    assert "needs a date as YYYY-MM-DD" in answer.json()["error"]
    good_default = source_body(project_key="OPS", policy={"field_defaults": {due: "2030-01-31"}})
    assert api.call("PUT", path, json=good_default).status_code == 200


def test_create_source_text_mapped_into_number_field_names_both(api: AdminApi) -> None:
    count = api.jira.add_custom_field("Ticket count", "number")
    policy = {"field_mappings": [{"source": "header:X-Ticket", "field_id": count}]}
    status, body = _create(api, policy=policy)
    assert status == 400
    assert body["field"] == "policy.field_mappings"
    assert "header:X-Ticket is text" in str(body["error"])
    assert f"{count} (Ticket count) is a number field" in str(body["error"])


def test_create_source_mapping_to_unknown_field_answers_400(api: AdminApi) -> None:
    policy = {"field_mappings": [{"source": "sender", "field_id": "customfield_404"}]}
    status, body = _create(api, policy=policy)
    assert (status, body["field"]) == (400, "policy.field_mappings")
    assert body["error"] == "policy.field_mappings: Jira has no field customfield_404"


def test_create_source_text_mappings_and_typed_defaults_accepted(api: AdminApi) -> None:
    sender = api.jira.add_custom_field("Sender")
    notes = api.jira.add_custom_field("Notes", "textarea")
    count = api.jira.add_custom_field("Count", "number")
    policy = {
        "field_mappings": [
            {"source": "sender", "field_id": sender},
            {"source": "body:Order", "field_id": notes},
        ],
        "field_defaults": {count: 3},
        "language": "de-CH",
        "jsm_customers": True,
    }
    status, body = _create(api, policy=policy)
    assert status == 201, body
    saved = body["policy"]
    assert isinstance(saved, dict)
    assert saved["language"] == "de-CH" and saved["jsm_customers"] is True


def test_create_source_language_not_a_tag_answers_400(api: AdminApi) -> None:
    status, body = _create(api, policy={"language": "Deutsch (Schweiz)"})
    assert (status, body["field"]) == (400, "policy.language")


def test_create_source_jira_down_answers_502_and_saves_nothing(api: AdminApi) -> None:
    api.jira.inject_fault(500, times=5, path_contains="/field")
    status, body = _create(api)
    assert status == 502
    assert "could not check SUP in Jira" in str(body["error"])
    assert api.app.runtime.sources.search(api.tenant_id) == []
