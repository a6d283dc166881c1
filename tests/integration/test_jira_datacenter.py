"""The Data Center dialect of our Jira client and tracker against the fake Jira Data Center:
REST v2 paths, wiki-markup bodies, PAT bearer auth, users by name, attachments, properties."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector.drafts import CommentDraft, IssueDraft, JiraPerson
from connector.jira.adf import text_to_adf
from connector.jira.auth import BearerTokenAuth, JiraSite
from connector.jira.client import JiraClient
from connector.jira.datacenter import datacenter_site, server_problem
from connector.jira.errors import JiraAuthError, JiraBadRequest, JiraError, JiraNotFound
from connector.jira.metadata import check_create_metadata
from connector.jira.session import RetryingSession
from connector.jira.tracker import DIGEST_FIELD, JiraTracker
from connector.mail.inbound import MailAttachment
from connector.mail.message import parse_email
from connector.mail_fields import with_author_line
from connector.sources.errors import SourceConfigError
from tests.fakes.datacenter import FakeJiraDataCenter
from tests.wiki_tokens import markup, visible_text

PROPERTY = "mail-connector-message"
HOSTILE = "Please fix {code}rm -rf{code} and [click|http://evil.example] *now* !x.png! |a|b|"


@pytest.fixture
def jira() -> Iterator[FakeJiraDataCenter]:
    with FakeJiraDataCenter(version="9.12.4", projects={"SUP": "Support"}) as fake:
        yield fake


@pytest.fixture
def token(jira: FakeJiraDataCenter) -> str:
    pat = jira.add_user("svc-mail", "svc-mail@example.com", "Mail Service", token=True)
    assert pat is not None
    jira.add_user("jsmith", "John.Smith@example.com", "John Smith")
    return pat


@pytest.fixture
def client(jira: FakeJiraDataCenter, token: str) -> JiraClient:
    session = RetryingSession(max_attempts=1)
    return JiraClient(
        datacenter_site(jira.base_url, token=token), timeout_seconds=5, session=session
    )


def _tracker(client: JiraClient) -> JiraTracker:
    return JiraTracker(client, property_key=PROPERTY)


def _draft(description: dict[str, Any], reporter: str | None = None) -> IssueDraft:
    return IssueDraft(
        project_key="SUP",
        issue_type="Task",
        summary="Printer on fire",
        description=description,
        message_digest="digest-1",
        reporter_account_id=reporter,
    )


def test_server_info_is_a_supported_data_center(client: JiraClient) -> None:
    info = client.server_info()
    assert info["deploymentType"] == "DataCenter"
    assert server_problem(info) is None
    assert client.myself()["name"] == "svc-mail"


def test_every_call_is_rest_v2_with_the_pat_as_bearer(
    client: JiraClient, jira: FakeJiraDataCenter, token: str
) -> None:
    tracker = _tracker(client)
    key = tracker.create_issue(_draft(text_to_adf("hello")))
    tracker.attach(key, MailAttachment.of("log.txt", "text/plain", b"smoke\n"))
    assert jira.requests_log
    assert all(call.path.startswith("/rest/api/2/") for call in jira.requests_log)
    assert all(call.headers["authorization"] == f"Bearer {token}" for call in jira.requests_log)
    assert {call.user for call in jira.requests_log} == {"svc-mail"}


def test_create_issue_with_wiki_description_reporter_by_name_and_property(
    client: JiraClient, jira: FakeJiraDataCenter
) -> None:
    tracker = _tracker(client)
    person = tracker.find_person("john.smith@example.com")
    assert person == JiraPerson("jsmith", "John Smith")
    key = tracker.create_issue(_draft(text_to_adf(HOSTILE), reporter=person.account_id))

    stored = jira.issue(key)
    assert stored is not None
    description = stored["fields"]["description"]
    assert isinstance(description, str)
    assert markup(description) == {"link": 1}  # the URL, linked by the ADF side; nothing else
    assert visible_text(description).startswith("Please fix {code}rm -rf{code} and [click|")
    assert stored["fields"]["reporter"] == {"name": "jsmith"}
    assert stored["properties"] == {PROPERTY: {DIGEST_FIELD: "digest-1"}}
    assert client.get_issue_property(key, PROPERTY) == {DIGEST_FIELD: "digest-1"}
    assert jira.validation_failures == []


def test_comment_in_wiki_markup_names_the_sender_and_is_found_by_its_digest(
    client: JiraClient, jira: FakeJiraDataCenter
) -> None:
    tracker = _tracker(client)
    key = tracker.create_issue(_draft(text_to_adf("first")))
    email = parse_email(b"From: John <john.smith@example.com>\nSubject: x\n\nthanks *a lot*\n")
    person = JiraPerson("jsmith", "John Smith")
    body = with_author_line(text_to_adf("thanks *a lot*"), email, person)
    added = tracker.add_comment(CommentDraft(key, body, "digest-2"))

    stored = jira.issue(key)
    assert stored is not None
    assert stored["comments"][0]["body"] == "[~jsmith] wrote by email:\n\nthanks \\*a lot\\*"
    assert tracker.find_comment_by_digest(key, "digest-2") == added.id
    assert tracker.find_comment_by_digest(key, "other") is None
    client.set_comment_property(added.id, "extra", {"n": 1})
    assert jira.issue(key)["comments"][0]["properties"]["extra"] == {"n": 1}  # type: ignore[index]
    assert jira.validation_failures == []


def test_attachment_goes_with_the_xsrf_header(client: JiraClient, jira: FakeJiraDataCenter) -> None:
    tracker = _tracker(client)
    key = tracker.create_issue(_draft(text_to_adf("see log")))
    tracker.attach(key, MailAttachment.of("log.txt", "text/plain", b"smoke\n"))
    assert jira.attachment_content(key, "log.txt") == b"smoke\n"
    assert tracker.attachment_names(key) == {("log.txt", 6)}
    upload = next(c for c in jira.requests_log if c.path.endswith("/attachments"))
    assert upload.headers["x-atlassian-token"] == "no-check"
    assert jira.validation_failures == []


def test_user_search_asks_by_username_and_maps_name_as_the_id(client: JiraClient) -> None:
    users = client.find_users("jsmith")
    assert [(u.account_id, u.email, u.account_type) for u in users] == [
        ("jsmith", "John.Smith@example.com", "atlassian")
    ]
    assert users[0].raw["key"].startswith("JIRAUSER")
    assert _tracker(client).find_person("nobody@example.com") is None


def test_cloud_requests_are_refused_as_data_center_refuses_them(
    client: JiraClient, jira: FakeJiraDataCenter, token: str
) -> None:
    adf_description = {
        "project": {"key": "SUP"},
        "issuetype": {"name": "Task"},
        "summary": "x",
        "description": text_to_adf("x"),
    }
    with pytest.raises(JiraBadRequest) as refused:
        client.create_issue(adf_description)
    assert refused.value.field_errors == {"description": "Operation value must be a string"}
    assert any("description" in failure for failure in jira.validation_failures)
    base = jira.base_url
    cloud_speaking = JiraClient(JiraSite(base, BearerTokenAuth(base, token=token)))
    with pytest.raises(JiraNotFound):  # Data Center has no /rest/api/3
        cloud_speaking.server_info()


def test_a_wrong_token_is_refused(jira: FakeJiraDataCenter, token: str) -> None:
    client = JiraClient(datacenter_site(jira.base_url, token="not-" + token))
    with pytest.raises(JiraAuthError) as refused:
        client.myself()
    assert refused.value.status == 401


@pytest.mark.parametrize(
    ("info", "problem"),
    [
        ({"deploymentType": "DataCenter", "versionNumbers": [9, 12, 0]}, None),
        ({"deploymentType": "DataCenter", "versionNumbers": [10, 3, 1]}, None),
        ({"deploymentType": "Server", "version": "9.12.2"}, None),
        ({"deploymentType": "DataCenter", "versionNumbers": [9, 4, 0]}, "too old"),
        ({"deploymentType": "Cloud", "versionNumbers": [1001, 0, 0]}, "Jira Cloud"),
        ({"deploymentType": "DataCenter"}, "which version"),
        ({}, "did not say it is Data Center"),
    ],
)
def test_server_problem(info: dict[str, Any], problem: str | None) -> None:
    found = server_problem(info)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_create_metadata_projects_and_permissions_as_data_center_pages_them(
    client: JiraClient, jira: FakeJiraDataCenter
) -> None:
    checked = check_create_metadata(client, "SUP", "task", field_defaults={})
    assert checked.issue_type_id
    with pytest.raises(SourceConfigError, match="has no issue type 'Story'"):
        check_create_metadata(client, "SUP", "Story", field_defaults={})
    assert [p["key"] for p in client.search_projects()] == ["SUP"]
    assert client.get_project("SUP")["projectTypeKey"] == "software"
    wanted = ["BROWSE_PROJECTS", "CREATE_ISSUES", "ADMINISTER"]
    assert client.my_permissions(wanted) == {"BROWSE_PROJECTS", "CREATE_ISSUES"}
    jira.set_permissions("svc-mail", "BROWSE_PROJECTS")
    assert client.my_permissions(wanted) == {"BROWSE_PROJECTS"}


def test_permissions_are_asked_of_the_account_itself(
    client: JiraClient, jira: FakeJiraDataCenter
) -> None:
    """`mypermissions` with the keys asked; another account's global permissions cannot be
    asked on Data Center, so the client says so before sending anything."""
    jira.set_permissions("svc-mail", "BROWSE_PROJECTS", "ADMINISTER")
    assert client.my_permissions(["ADMINISTER", "CREATE_ISSUES"]) == {"ADMINISTER"}
    sent = len(jira.requests_log)
    with pytest.raises(JiraError, match="only the caller's own permissions"):
        client.global_permissions("jsmith", ["ADMINISTER"])
    assert len(jira.requests_log) == sent
