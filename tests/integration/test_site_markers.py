"""Crash healing's lookup on a site without an install (`connector.jira.markers`): the issue
is found by its marker label and confirmed by its property, never taken on the label alone.
The kill-9 crash test (test_crash.py) proves it end to end."""

from __future__ import annotations

import pytest

from connector.drafts import IssueDraft
from connector.jira.auth import tenant_site
from connector.jira.client import JiraClient
from connector.jira.markers import marker_label
from connector.routing.match import message_id_digest
from connector.wiring import jira_tracker
from tests.fakes.datacenter import FakeJiraDataCenter
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.sites_support import connect_datacenter, connect_site


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def _adf(text: str) -> dict[str, object]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


@pytest.mark.parametrize("kind", ["jira", "datacenter"])
def test_marker_lookup_confirms_by_property_and_ignores_copied_labels(
    running_app: RunningApp,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    kind: str,
) -> None:
    site: FakeJira | FakeJiraDataCenter = request.getfixturevalue(f"fake_{kind}")
    if isinstance(site, FakeJiraDataCenter):
        tenant = connect_datacenter(monkeypatch, running_app, site)  # has project SUP
    else:
        site.add_project("SUP", "Support")
        tenant, _ = connect_site(monkeypatch, running_app, site)
    tracker = jira_tracker(running_app.runtime, tenant)
    digest = message_id_digest("<printer@customer.example>")
    assert tracker.find_issue_by_digest(digest) is None

    # Someone copies the label onto an issue of their own first: it is not the message's.
    client = JiraClient(tenant_site(tenant, app_key=running_app.runtime.settings.app_key))
    copied = client.create_issue(
        {
            "project": {"key": "SUP"},
            "issuetype": {"name": "Task"},
            "summary": "Copied label",
            "description": client.dialect.document(_adf("no property")),
            "labels": [marker_label(digest)],
        }
    )
    assert tracker.find_issue_by_digest(digest) is None

    made = tracker.create_issue(
        IssueDraft(
            project_key="SUP",
            issue_type="Task",
            summary="Printer on fire",
            description=_adf("Room 4."),
            message_digest=digest,
        )
    )
    assert made != copied.key
    issue = site.issue(made)
    assert issue is not None and marker_label(digest) in issue["fields"]["labels"]
    assert tracker.find_issue_by_digest(digest) == made
