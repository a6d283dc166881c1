"""The pipeline with a Jira Data Center tracker: mail becomes an issue and a comment in wiki
markup over REST v2, on the fake Data Center (`tests.fakes.datacenter`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from connector.jira.client import JiraClient
from connector.jira.datacenter import datacenter_site
from connector.jira.tracker import JiraTracker
from connector.pipeline.process import Pipeline
from connector.storage.threads import ParticipantRepository, ThreadRepository
from tests.fakes.datacenter import FakeJiraDataCenter
from tests.integration.pipeline_support import support_source
from tests.servers.messages import build_message
from tests.wiki_tokens import markup, visible_text

BODY = "The printer says {color:red}*PC LOAD LETTER*{color}.\n\nh1. Help\n[see|http://x.example]\n"


@pytest.fixture
def jira() -> Iterator[FakeJiraDataCenter]:
    with FakeJiraDataCenter(version="10.3.1", projects={"SUP": "Support"}) as fake:
        yield fake


def test_mail_becomes_a_wiki_markup_issue_and_a_reply_a_comment(
    migrated_engine: Engine, encryption_key: str, jira: FakeJiraDataCenter
) -> None:
    token = jira.add_user("svc-mail", "svc@example.com", "Mail Service", token=True)
    assert token is not None
    client = JiraClient(datacenter_site(jira.base_url, token=token))
    support = support_source(migrated_engine, encryption_key, "jira:datacenter")
    pipeline = Pipeline(
        tracker=JiraTracker(client, property_key="mail-connector-message"),
        email_log=support.email_log,
        threads=ThreadRepository(migrated_engine),
        participants=ParticipantRepository(migrated_engine),
    )

    first = build_message("printer on fire", body=BODY, message_id="<first@customer.example>")
    entry = support.email_log.begin(support.tenant_id, support.source.id, "1", size=len(first))
    created = pipeline.process(support.source, entry, first)
    assert (created.outcome, created.issue_key) == ("created", "SUP-1")

    issue = jira.issue("SUP-1")
    assert issue is not None
    description = issue["fields"]["description"]
    # The sender line's address and the URL in the mail; nothing from the mail's text.
    assert description.startswith(
        "[customer@example.com|mailto:customer@example.com] wrote by email:"
    )
    assert markup(description) == {"link": 2}
    assert "{color:red}*PC LOAD LETTER*{color}" in visible_text(description)
    assert "\nh1. Help" in visible_text(description)

    reply = build_message(
        "Re: [SUP-1] printer on fire", body="Still *on fire*.\n", message_id="<r@customer.example>"
    )
    entry = support.email_log.begin(support.tenant_id, support.source.id, "2", size=len(reply))
    commented = pipeline.process(support.source, entry, reply)
    assert (commented.outcome, commented.issue_key) == ("commented", "SUP-1")
    comment = jira.issue("SUP-1")["comments"][0]["body"]  # type: ignore[index]
    assert comment.endswith("Still \\*on fire\\*.")
    assert all(call.path.startswith("/rest/api/2/") for call in jira.requests_log)
    assert jira.validation_failures == []
