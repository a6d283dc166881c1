"""One mailbox, three project addresses (issue 8's proof): a source set up and enabled through
the admin API reads a real Dovecot mailbox; the fake Jira ends with issues in three projects,
and replies land on their issues whatever address they were sent to."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from tests.fakes.jira import FakeJira
from tests.integration.admin_support import AdminApi, dovecot_body, make_admin_api
from tests.integration.conftest import RunningApp
from tests.servers.dovecot import Dovecot, MailUser

RULES = [
    {"pattern": "support@example.com", "project_key": "SUP"},
    {
        "pattern": "billing@example.com",
        "project_key": "BIL",
        "issue_type": "Bug",
        "defaults": {"labels": ["billing", "email"]},
    },
]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Routing does not depend on the database: one backend keeps this file fast."""
    return sqlite_url


@dataclass
class Desk:
    api: AdminApi
    dovecot: Dovecot
    user: MailUser
    source_id: int

    @property
    def jira(self) -> FakeJira:
        return self.api.jira

    def deliver(self, message: EmailMessage) -> None:
        self.dovecot.deliver(self.user, message.as_bytes())

    def poll(self) -> dict[str, int]:
        answer = self.api.poll(self.source_id)
        assert answer["ok"], answer
        counts: dict[str, int] = answer["counts"]
        return counts

    def issue(self, key: str) -> dict[str, Any]:
        issue = self.jira.issue(key)
        assert issue is not None, key
        return issue

    def comments(self, key: str) -> list[str]:
        return [str(c["body"]) for c in self.issue(key)["fields"]["comment"]["comments"]]

    def log(self) -> dict[str, dict[str, Any]]:
        response = self.api.call("GET", "/email-log?limit=200")
        assert response.status_code == 200, response.text
        return {entry["subject"]: entry for entry in response.json()["entries"]}


@pytest.fixture
def desk(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> Desk:
    api = make_admin_api(running_app, fake_jira)  # SUP exists already
    fake_jira.add_project("BIL", "Billing", issue_types=("Task", "Bug"))
    fake_jira.add_project("OPS", "Operations", issue_types=("Task",))
    body = dovecot_body(
        dovecot,
        mail_user,
        address_rules=RULES,
        plus_projects=["OPS"],
        unrouted="ignore",
    )
    created = api.call("POST", "/mail-sources", json=body)
    assert created.status_code == 201, created.text
    source_id = created.json()["id"]
    enabled = api.call("POST", f"/mail-sources/{source_id}/enable")
    assert enabled.status_code == 200, enabled.text
    return Desk(api, dovecot, mail_user, source_id)


def _mail(subject: str, body: str, *, to: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    for name, value in headers.items():  # envelope headers first, as MTAs prepend them
        message[name.replace("_", "-")] = value
    message["From"] = "Jürgen Müller <jurgen@customer.example>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="customer.example")
    message.set_content(body)
    return message


def test_one_mailbox_three_addresses_three_projects_replies_thread(desk: Desk) -> None:
    support = _mail("Printer on fire", "Room 4.", to="Support <support@example.com>")
    # A Postfix virtual alias: the customer wrote with Bcc, only X-Original-To knows.
    billing = _mail(
        "Invoice 42 is wrong",
        "Please correct it.",
        to="undisclosed-recipients:;",
        Delivered_To="helpdesk@mail.example.com",
        X_Original_To="billing@example.com",
    )
    ops = _mail("Server down", "Since 10:00.", to="support+ops@example.com")
    both = _mail(
        "Refund and a broken login",
        "Two things.",
        to="billing@example.com",
        Cc="support@example.com",
    )
    stray = _mail("Lunch?", "Not for a project.", to="someone@example.com")
    for message in (support, billing, ops, both, stray):
        desk.deliver(message)

    assert desk.poll() == {"created": 4, "ignored": 1}

    jira = desk.jira
    assert sorted(jira.issue_keys()) == ["BIL-1", "OPS-1", "SUP-1", "SUP-2"]
    bil = desk.issue("BIL-1")["fields"]
    assert (bil["summary"], bil["issuetype"]["name"]) == ("Invoice 42 is wrong", "Bug")
    assert bil["labels"] == ["billing", "email"]
    assert desk.issue("OPS-1")["fields"]["summary"] == "Server down"
    assert desk.issue("SUP-1")["fields"]["issuetype"]["name"] == "Task"
    # Sent to billing@ and support@: one issue, in the first rule's project; the log names BIL.
    assert desk.issue("SUP-2")["fields"]["summary"] == "Refund and a broken login"

    log = desk.log()
    billing_route = log["Invoice 42 is wrong"]["route"]
    assert (billing_route["header"], billing_route["rule_index"]) == ("X-Original-To", 1)
    assert log["Server down"]["route"]["decided_by"] == "plus"
    both_route = log["Refund and a broken login"]["route"]
    assert (both_route["project_key"], both_route["header"]) == ("SUP", "Cc")
    assert [(a["project_key"], a["address"]) for a in both_route["also"]] == [
        ("BIL", "billing@example.com")
    ]
    detail = desk.api.call("GET", f"/email-log/{log['Refund and a broken login']['id']}").json()
    assert any(step.startswith("also addressed to billing@example.com") for step in detail["trail"])
    assert log["Lunch?"]["outcome"] == "ignored"
    assert log["Lunch?"]["reason"] == "no address rule matched; unrouted mail is ignored"

    # Replies: the thread wins over the address they were sent to.
    desk.deliver(
        _mail(
            "Re: Printer on fire",
            "It is out now.",
            to="billing@example.com",
            In_Reply_To=str(support["Message-ID"]),
        )
    )
    desk.deliver(
        _mail(
            "Re: Invoice 42 is wrong",
            "Here is the order number.",
            to="support@example.com",
            References=str(billing["Message-ID"]),
        )
    )
    desk.deliver(_mail("Re: [OPS-1] Server down", "Back up.", to="support+OPS@example.com"))
    # A key of another project in the subject does not thread mail sent to support@.
    desk.deliver(_mail("Re: [BIL-1] my invoice", "Also wrong.", to="support@example.com"))
    # Nor does an unrouted address stop a reply to a known thread.
    desk.deliver(
        _mail(
            "Re: Lunch? no: Server down",
            "Still up?",
            to="x@example.com",
            In_Reply_To=str(ops["Message-ID"]),
        )
    )

    assert desk.poll() == {"commented": 4, "created": 1}
    assert any("It is out now." in c for c in desk.comments("SUP-1"))
    assert any("order number" in c for c in desk.comments("BIL-1"))
    ops_comments = desk.comments("OPS-1")
    assert len(ops_comments) == 2 and "Back up." in ops_comments[0]
    assert sorted(jira.issue_keys()) == ["BIL-1", "OPS-1", "SUP-1", "SUP-2", "SUP-3"]
    assert desk.issue("SUP-3")["fields"]["summary"] == "my invoice"
    assert jira.validation_failures == []
