"""The fake's Jira Service Management resources and field creation refuse what real Jira
refuses: bodies outside the JSM spec, callers without Administer Jira, non-service issues."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.catalogue import DEFAULT_PERMISSIONS
from tests.fakes.jira import FakeJira
from tests.unit.test_fake_jira import API, call, create_issue

DESK = "/rest/servicedeskapi"


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira() as fake:
        fake.add_project("HELP", "Help", issue_types=("Task",), project_type="service_desk")
        fake.add_project("SUP", "Support", issue_types=("Task",))
        fake.set_permissions(*DEFAULT_PERMISSIONS, "ADMINISTER")
        yield fake


def test_fake_customer_body_outside_jsm_spec_answers_400(jira: FakeJira) -> None:
    body = {"email": "a@example.com", "displayName": "A", "nickname": "a"}
    answer = call(jira, "POST", f"{DESK}/customer", json=body)
    assert answer.status_code == 400
    (failure,) = jira.validation_failures
    assert failure.kind == "openapi" and "nickname" in " ".join(failure.messages)


def test_fake_customer_created_then_conflicts(jira: FakeJira) -> None:
    body = {"email": "a@example.com", "displayName": "Ann"}
    created = call(jira, "POST", f"{DESK}/customer", json=body)
    assert created.status_code == 201
    assert jira.customers() == {"a@example.com": created.json()["accountId"]}
    strict = {"strictConflictStatusCode": "true"}
    again = call(jira, "POST", f"{DESK}/customer", json=body, params=strict)
    assert again.status_code == 409
    assert "already exists" in again.json()["errorMessage"]


def test_fake_customer_without_administer_answers_403(jira: FakeJira) -> None:
    jira.set_permissions(*DEFAULT_PERMISSIONS)
    answer = call(jira, "POST", f"{DESK}/customer", json={"email": "a@example.com"})
    assert answer.status_code == 403
    assert jira.customers() == {}


def test_fake_participants_only_on_service_requests(jira: FakeJira) -> None:
    jira.add_user("acc-ada", "ada@example.com", "Ada")
    help_key, sup_key = create_issue(jira, "HELP"), create_issue(jira, "SUP")
    body = {"accountIds": ["acc-ada"]}
    added = call(jira, "POST", f"{DESK}/request/{help_key}/participant", json=body)
    assert added.status_code == 200
    assert [v["accountId"] for v in added.json()["values"]] == ["acc-ada"]
    assert jira.request_participants(help_key) == ["acc-ada"]
    refused = call(jira, "POST", f"{DESK}/request/{sup_key}/participant", json=body)
    assert refused.status_code == 404
    unknown = call(
        jira, "POST", f"{DESK}/request/{help_key}/participant", json={"accountIds": ["x"]}
    )
    assert unknown.status_code == 400


def test_fake_field_creation_needs_administer_and_a_known_type(jira: FakeJira) -> None:
    prefix = "com.atlassian.jira.plugin.system.customfieldtypes:"
    good = {"name": "Email language", "type": prefix + "textfield"}
    created = call(jira, "POST", f"{API}/field", json=good)
    assert created.status_code == 201, created.text
    assert created.json()["schema"]["custom"] == prefix + "textfield"
    assert jira.custom_fields() == {"Email language": created.json()["id"]}
    unknown_type = call(jira, "POST", f"{API}/field", json={**good, "type": prefix + "magic"})
    assert unknown_type.status_code == 400
    jira.set_permissions(*DEFAULT_PERMISSIONS)
    assert call(jira, "POST", f"{API}/field", json=good).status_code == 403
