"""Calling Jira as an installed tenant: the client against the fake Jira on loopback."""

from __future__ import annotations

import pytest

from connector.jira.auth import api_token_site, connect_site
from connector.jira.client import JiraClient
from connector.jira.errors import (
    JiraAuthError,
    JiraBadRequest,
    JiraNotFound,
    JiraRateLimited,
    JiraUnavailable,
)
from connector.jira.session import RetryingSession
from descriptor.render import message_property_key
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp

PROPERTY = message_property_key("mail-connector")


def _description(text: str) -> dict[str, object]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(running_app: RunningApp, fake_jira: FakeJira, sleeps: list[float]) -> JiraClient:
    assert fake_jira.install(running_app.base_url).status_code == 204
    fake_jira.add_project("SUP", "Support", issue_types=("Task", "Bug"))
    tenant = running_app.runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None and tenant.shared_secret is not None
    site = connect_site(
        tenant.base_url, app_key="mail-connector", shared_secret=tenant.shared_secret
    )
    session = RetryingSession(max_attempts=3, max_wait_seconds=5, sleep=sleeps.append)
    return JiraClient(site, timeout_seconds=1, session=session)


def _create(client: JiraClient, summary: str = "Printer on fire") -> str:
    created = client.create_issue(
        {
            "project": {"key": "SUP"},
            "issuetype": {"name": "Task"},
            "summary": summary,
            "description": _description("The printer in room 4 is on fire."),
        },
        properties={PROPERTY: {"messageIdDigest": "abc123"}},
    )
    return created.key


def test_client_installed_tenant_creates_comments_attaches_and_stamps(
    client: JiraClient, fake_jira: FakeJira
) -> None:
    key = _create(client)
    assert key == "SUP-1"
    comment = client.add_comment(key, _description("Still burning."))
    attachments = client.add_attachment(key, "log.txt", b"smoke\n", "text/plain")
    client.set_issue_property(key, "mail-connector-extra", {"n": 1})

    issue = client.get_issue(key, fields="summary,description,comment,attachment")
    assert issue["fields"]["summary"] == "Printer on fire"
    assert issue["fields"]["description"]["content"][0]["content"][0]["text"].startswith("The")
    assert comment.id
    assert [a.filename for a in attachments] == ["log.txt"]
    assert attachments[0].size == 6
    assert client.get_issue_property(key, PROPERTY) == {"messageIdDigest": "abc123"}
    assert client.get_issue_property(key, "mail-connector-extra") == {"n": 1}
    assert client.get_issue_property(key, "never-set") is None
    # Every call reached the fake signed with a JWT it verified.
    assert {entry.auth for entry in fake_jira.requests_log} == {"jwt"}
    assert fake_jira.validation_failures == []


def test_client_search_by_message_property_finds_issue(client: JiraClient) -> None:
    key = _create(client)
    _create(client, "Another")
    found = client.search_issues(f'issue.property[{PROPERTY}].messageIdDigest = "abc123"')
    assert key in [issue["key"] for issue in found]


def test_client_429_with_retry_after_is_retried(
    client: JiraClient, fake_jira: FakeJira, sleeps: list[float]
) -> None:
    fake_jira.inject_fault(429, times=2, retry_after="1", method="POST")
    assert _create(client) == "SUP-1"
    assert sleeps == [1.0, 1.0]


def test_client_503_past_the_cap_raises_retryable_with_jira_advice(
    client: JiraClient, fake_jira: FakeJira, sleeps: list[float]
) -> None:
    fake_jira.inject_fault(503, times=1, retry_after="120", method="POST")
    with pytest.raises(JiraUnavailable) as raised:
        _create(client)
    assert raised.value.retryable
    assert raised.value.retry_after == 120.0
    assert sleeps == []


def test_client_429_every_time_gives_up_after_max_attempts(
    client: JiraClient, fake_jira: FakeJira, sleeps: list[float]
) -> None:
    fake_jira.inject_fault(429, times=10, retry_after="1", method="POST")
    with pytest.raises(JiraRateLimited):
        _create(client)
    assert len(sleeps) == 2


def test_client_500_raises_unavailable_with_jira_message(
    client: JiraClient, fake_jira: FakeJira
) -> None:
    fake_jira.inject_fault(500, times=1, method="POST")
    with pytest.raises(JiraUnavailable) as raised:
        _create(client)
    assert raised.value.status == 500
    assert raised.value.messages


def test_client_slow_jira_raises_unavailable(client: JiraClient, fake_jira: FakeJira) -> None:
    fake_jira.inject_delay(2.5, times=1)
    with pytest.raises(JiraUnavailable, match="could not be reached"):
        client.myself()


def test_client_unknown_project_raises_bad_request_with_field_errors(client: JiraClient) -> None:
    with pytest.raises(JiraBadRequest) as raised:
        client.create_issue(
            {"project": {"key": "NOPE"}, "issuetype": {"name": "Task"}, "summary": "x"}
        )
    assert "project" in raised.value.field_errors
    assert not raised.value.retryable


def test_client_invalid_adf_is_refused_by_jira(client: JiraClient, fake_jira: FakeJira) -> None:
    with pytest.raises(JiraBadRequest):
        client.add_comment(_create(client), _description(""))
    assert fake_jira.validation_failures


def test_client_missing_issue_raises_not_found(client: JiraClient) -> None:
    with pytest.raises(JiraNotFound) as raised:
        client.get_issue("SUP-999")
    assert "does not exist" in str(raised.value)


def test_client_create_metadata_lists_types_and_fields(client: JiraClient) -> None:
    types = client.get_create_issue_types("SUP")
    assert {t["name"] for t in types} == {"Task", "Bug"}
    fields = client.get_create_fields("SUP", str(types[0]["id"]))
    assert "summary" in {f["fieldId"] for f in fields}


def test_client_find_users_by_email(client: JiraClient, fake_jira: FakeJira) -> None:
    fake_jira.add_user("acc-1", "ada@example.com", "Ada Lovelace")
    (user,) = client.find_users("ada@example.com")
    assert user.account_id == "acc-1"
    assert user.display_name == "Ada Lovelace"


def test_client_api_token_site_uses_basic_auth(fake_jira: FakeJira) -> None:
    fake_jira.api_tokens["bot@example.com"] = "token-1"
    good = JiraClient(
        api_token_site(fake_jira.base_url, email="bot@example.com", api_token="token-1")
    )
    assert good.myself()
    bad = JiraClient(api_token_site(fake_jira.base_url, email="bot@example.com", api_token="nope"))
    with pytest.raises(JiraAuthError):
        bad.myself()
    assert {entry.auth for entry in fake_jira.requests_log} == {"basic"}


def test_create_metadata_known_type_without_extra_required_fields_passes(
    client: JiraClient,
) -> None:
    from connector.jira.metadata import check_create_metadata

    checked = check_create_metadata(client, "SUP", "task", field_defaults={})
    assert checked.issue_type_id
    assert checked.missing_required == ()


def test_create_metadata_unknown_type_names_the_choices(client: JiraClient) -> None:
    from connector.jira.metadata import check_create_metadata
    from connector.sources.errors import SourceConfigError

    with pytest.raises(SourceConfigError) as raised:
        check_create_metadata(client, "SUP", "Story", field_defaults={})
    assert raised.value.field == "issue_type"
    assert "it has: Bug, Task" in str(raised.value)


def test_create_metadata_required_field_needs_a_default(
    client: JiraClient, fake_jira: FakeJira
) -> None:
    from connector.jira.metadata import check_create_metadata
    from connector.sources.errors import SourceConfigError

    fake_jira.add_project("OPS", "Operations", issue_types=("Task",), required_fields=("labels",))
    with pytest.raises(SourceConfigError) as raised:
        check_create_metadata(client, "OPS", "Task", field_defaults={})
    assert raised.value.field == "field_defaults"
    assert "Labels (labels)" in str(raised.value)
    check_create_metadata(client, "OPS", "Task", field_defaults={"labels": ["email"]})


def test_create_metadata_unknown_project_is_refused(client: JiraClient) -> None:
    from connector.jira.metadata import check_create_metadata
    from connector.sources.errors import SourceConfigError

    with pytest.raises(SourceConfigError) as raised:
        check_create_metadata(client, "NOPE", "Task", field_defaults={})
    assert raised.value.field == "project_key"
