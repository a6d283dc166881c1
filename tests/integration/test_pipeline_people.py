"""People in the pipeline: a sender without a Jira account in the mapped custom fields (with
the source's language), Jira users found through the workaround user and remembered across
polls, and Jira Service Management customers and request participants."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from connector.mail_source import SourcePolicy
from connector.routing.addresses import AddressRule
from connector.storage.email_log import LogEntry
from connector.wiring import poll_source
from tests.fakes import catalogue as cat
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.sources import dovecot_spec

BOT = "lookup-bot@example.com"
TOKEN = "ATATT3xFfGF0-bot-token"
STRANGER = "Jürgen Müller <jurgen@customer.example>"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@dataclass
class Mailroom:
    app: RunningApp
    jira: FakeJira
    dovecot: Dovecot
    user: MailUser
    tenant_id: int

    def source(
        self,
        project_key: str = "SUP",
        *,
        address_rules: tuple[AddressRule, ...] = (),
        **policy: Any,
    ) -> int:
        spec = dovecot_spec(
            self.dovecot,
            self.user,
            project_key=project_key,
            # Unsigned mail: the mailbox is trusted, so Jira users are attributed.
            policy=SourcePolicy(**{"sender_verification": "trust_mailbox", **policy}),
            address_rules=address_rules,
        )
        sources = self.app.runtime.sources
        source = sources.create(self.tenant_id, spec)
        sources.set_enabled(self.tenant_id, source.id, True)
        assert self.poll(source.id) == {}  # the baseline
        return source.id

    def poll(self, source_id: int) -> dict[str, int]:
        result = poll_source(self.app.runtime, source_id, owner="test")
        assert result.ok, result.message
        return result.counts

    def deliver(self, subject: str, *, sender: str = STRANGER, cc: str | None = None) -> None:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.user.name
        if cc:
            message["Cc"] = cc
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="customer.example")
        message.set_content(f"{subject}: details.")
        self.dovecot.deliver(self.user, message.as_bytes())

    def entry(self, subject: str) -> LogEntry:
        return next(
            e for e in self.app.runtime.email_log.search(self.tenant_id) if e.subject == subject
        )

    def fields(self, key: str) -> dict[str, Any]:
        issue = self.jira.issue(key)
        assert issue is not None
        found: dict[str, Any] = issue["fields"]
        return found

    def user_searches(self) -> list[tuple[str, str]]:
        return [
            (r.auth, r.caller_id) for r in self.jira.requests_log if r.path.endswith("/user/search")
        ]


@pytest.fixture
def room(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> Iterator[Mailroom]:
    assert fake_jira.install(running_app.base_url).status_code == 204
    fake_jira.add_project("SUP", "Support", issue_types=("Task",))
    fake_jira.add_user("acc-ada", "ada@example.com", "Ada Lovelace")
    tenant = running_app.runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None
    yield Mailroom(running_app, fake_jira, dovecot, mail_user, tenant.id)


def test_pipeline_non_jira_sender_written_to_mapped_fields_with_language(room: Mailroom) -> None:
    ids = {
        "sender_name": room.jira.add_custom_field("Email sender name"),
        "sender_address": room.jira.add_custom_field("Email sender address"),
        "recipients": room.jira.add_custom_field("Email recipients", "textarea"),
        "language": room.jira.add_custom_field("Email language"),
    }
    room.app.runtime.tenant_settings.set_field_mapping(room.tenant_id, ids)
    source_id = room.source(language="de-CH")
    room.deliver("Stranger", cc="Boss <boss@customer.example>, it@customer.example")
    room.deliver("Colleague", sender="Ada <ada@example.com>")
    assert room.poll(source_id) == {"created": 2}

    stranger = room.fields(room.entry("Stranger").issue_key or "")
    assert stranger[ids["sender_name"]] == "Jürgen Müller"
    assert stranger[ids["sender_address"]] == "jurgen@customer.example"
    assert stranger[ids["language"]] == "de-CH"
    # A paragraph field takes ADF in REST v3: the recipients arrive as a document.
    recipients = stranger[ids["recipients"]]
    assert recipients["type"] == "doc"
    text = "".join(node["text"] for node in recipients["content"][0]["content"])
    assert text == "boss@customer.example, it@customer.example"

    colleague = room.fields(room.entry("Colleague").issue_key or "")
    assert colleague["reporter"]["accountId"] == "acc-ada"
    assert colleague[ids["sender_name"]] is None and colleague[ids["sender_address"]] is None
    assert colleague[ids["language"]] == "de-CH"
    assert room.jira.validation_failures == []


def test_pipeline_long_cc_list_cut_to_a_short_text_field(room: Mailroom) -> None:
    # Jira refuses a whole issue when a short text field gets over 255 characters.
    recipients = room.jira.add_custom_field("Email recipients")  # a short text field
    room.app.runtime.tenant_settings.set_field_mapping(room.tenant_id, {"recipients": recipients})
    source_id = room.source()
    crowd = ", ".join(f"colleague{n}@customer.example" for n in range(20))
    room.deliver("Copied to a crowd", cc=crowd)
    assert room.poll(source_id) == {"created": 1}
    value = room.fields("SUP-1")[recipients]
    assert len(value) == 255 and value.endswith("\u2026")
    assert value.startswith("colleague0@customer.example, colleague1@customer.example")
    assert room.jira.validation_failures == []


def test_pipeline_language_unmapped_writes_nothing(room: Mailroom) -> None:
    name_field = room.jira.add_custom_field("Email sender name")
    room.app.runtime.tenant_settings.set_field_mapping(room.tenant_id, {"sender_name": name_field})
    source_id = room.source(language="en")
    room.deliver("No language field")
    assert room.poll(source_id) == {"created": 1}
    fields = room.fields("SUP-1")
    assert fields[name_field] == "Jürgen Müller"
    assert "en" not in [v for k, v in fields.items() if k.startswith("customfield_")]


def test_pipeline_user_lookup_uses_workaround_user_and_cache_across_polls(room: Mailroom) -> None:
    bot = room.jira.add_user("acc-bot", BOT, "Lookup Bot")
    room.jira.api_tokens[BOT] = TOKEN
    room.app.runtime.tenant_settings.set_workaround_user(room.tenant_id, BOT, TOKEN)
    source_id = room.source()
    room.deliver("First", sender="Ada <ada@example.com>")
    assert room.poll(source_id) == {"created": 1}
    assert room.fields("SUP-1")["reporter"]["accountId"] == "acc-ada"
    assert room.user_searches() == [("basic", bot["accountId"])]

    room.deliver("Second", sender="Ada <ada@example.com>")
    assert room.poll(source_id) == {"created": 1}
    assert room.fields("SUP-2")["reporter"]["accountId"] == "acc-ada"
    assert len(room.user_searches()) == 1  # the next poll asked the tenant's cache


def test_pipeline_workaround_user_refused_falls_back_to_app(room: Mailroom) -> None:
    room.jira.add_user("acc-bot", BOT, "Lookup Bot")
    room.jira.api_tokens[BOT] = "the-real-token"
    room.app.runtime.tenant_settings.set_workaround_user(room.tenant_id, BOT, "revoked-token")
    source_id = room.source()
    room.deliver("Revoked", sender="Ada <ada@example.com>")
    assert room.poll(source_id) == {"created": 1}
    assert room.fields("SUP-1")["reporter"]["accountId"] == "acc-ada"
    assert [auth for auth, _ in room.user_searches()] == ["basic", "jwt"]


def test_pipeline_without_workaround_user_looks_up_as_app(room: Mailroom) -> None:
    source_id = room.source()
    room.deliver("App lookup", sender="Ada <ada@example.com>")
    assert room.poll(source_id) == {"created": 1}
    assert [auth for auth, _ in room.user_searches()] == ["jwt"]


# -- Jira Service Management --------------------------------------------------------------


def _service_project(room: Mailroom) -> None:
    room.jira.add_project("HELP", "Help desk", issue_types=("Task",), project_type="service_desk")


def test_pipeline_cc_jira_users_are_known_and_our_own_addresses_left_out(room: Mailroom) -> None:
    # An agent copied on a customer's mail must not be mailed as a customer; our own address
    # (or a plus form of it) copied by a reply-all must not become a participant at all.
    source_id = room.source(address_rules=(AddressRule("support@example.com", "SUP"),))
    room.deliver(
        "Copied around",
        cc="Ada <ada@example.com>, Carol <carol@customer.example>, support+ops@example.com",
    )
    assert room.poll(source_id) == {"created": 1}
    people = room.app.runtime.participants.for_issue(room.tenant_id, "SUP-1")
    found = {p.address: (p.role, p.jira_account_id) for p in people}
    assert found == {
        "jurgen@customer.example": ("sender", None),
        "ada@example.com": ("cc", "acc-ada"),
        "carol@customer.example": ("cc", None),
    }


def test_pipeline_jsm_new_sender_becomes_customer_and_cc_participants(room: Mailroom) -> None:
    _service_project(room)
    room.jira.set_permissions(*cat.DEFAULT_PERMISSIONS, "ADMINISTER")
    source_id = room.source("HELP", jsm_customers=True)
    room.deliver(
        "Need help", cc=f"Ada <ada@example.com>, Carol <carol@customer.example>, {room.user.name}"
    )
    assert room.poll(source_id) == {"created": 1}

    customers = room.jira.customers()
    assert set(customers) == {"jurgen@customer.example", "carol@customer.example"}
    fields = room.fields("HELP-1")
    assert fields["reporter"]["accountId"] == customers["jurgen@customer.example"]
    participants = room.jira.request_participants("HELP-1")
    assert participants == ["acc-ada", customers["carol@customer.example"]]
    trail = " | ".join(room.entry("Need help").trail)
    assert "JSM: the sender is customer" in trail
    assert "JSM: 2 request participant(s) added to HELP-1" in trail
    assert room.jira.validation_failures == []

    # The same sender again: found as a customer, not created twice.
    room.deliver("More help")
    assert room.poll(source_id) == {"created": 1}
    assert room.fields("HELP-2")["reporter"]["accountId"] == customers["jurgen@customer.example"]
    assert len(room.jira.customers()) == 2

    # A reply that copies someone new adds them to the request too.
    room.deliver("Re: HELP-1 Need help", cc="Dan <dan@customer.example>, Ada <ada@example.com>")
    assert room.poll(source_id) == {"commented": 1}
    dan = room.jira.customers()["dan@customer.example"]
    assert room.jira.request_participants("HELP-1") == [
        "acc-ada",
        customers["carol@customer.example"],
        dan,
    ]
    assert room.jira.validation_failures == []


def test_pipeline_jsm_refused_still_creates_issue_and_logs_why(room: Mailroom) -> None:
    _service_project(room)  # the app lacks Administer Jira: customers cannot be created
    source_id = room.source("HELP", jsm_customers=True)
    room.deliver("Refused", cc="Ada <ada@example.com>, Carol <carol@customer.example>")
    assert room.poll(source_id) == {"created": 1}
    entry = room.entry("Refused")
    assert entry.outcome == "created"
    trail = " | ".join(entry.trail)
    assert "JSM: the sender could not be made a customer: Jira answered 403" in trail
    assert "JSM: a Cc address could not be made a customer" in trail
    assert room.jira.customers() == {}
    assert room.jira.request_participants("HELP-1") == ["acc-ada"]


def test_pipeline_jsm_option_in_software_project_makes_no_jsm_calls(room: Mailroom) -> None:
    room.jira.set_permissions(*cat.DEFAULT_PERMISSIONS, "ADMINISTER")
    source_id = room.source("SUP", jsm_customers=True)
    room.deliver("Software", cc="carol@customer.example")
    assert room.poll(source_id) == {"created": 1}
    assert not any("servicedeskapi" in r.path for r in room.jira.requests_log)
    assert room.jira.customers() == {}
