"""Comment authors: a reply from a Jira user becomes that user's own comment (Connect user
impersonation through the fake authorization server), and when the site will not allow it
the app writes it with a line mentioning the sender and the email log says why."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from connector.mail_source import SourcePolicy
from connector.routing.match import message_id_digest
from connector.storage.email_log import LogEntry
from connector.storage.times import utc_now
from connector.wiring import jira_tracker
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.mailbox_support import PolledSource
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.sources import dovecot_spec

TRUST_MAILBOX = SourcePolicy(sender_verification="trust_mailbox")

ADA = "Ada Lovelace <ada@example.com>"
STRANGER = "Jürgen Müller <jurgen@customer.example>"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


class Thread(PolledSource):
    def reply(self, subject: str, text: str, *, sender: str = ADA) -> str:
        """Deliver a reply to SUP-1 by subject key; answers its Message-ID."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.user.name
        message["Subject"] = f"Re: [SUP-1] {subject}"
        message["Message-ID"] = make_msgid(domain="example.com")
        message.set_content(text)
        self.dovecot.deliver(self.user, message.as_bytes())
        return str(message["Message-ID"])

    def entry(self, subject: str) -> LogEntry:
        wanted = f"Re: [SUP-1] {subject}"
        return next(
            e for e in self.app.runtime.email_log.search(self.tenant_id) if e.subject == wanted
        )

    def comments(self) -> list[dict[str, Any]]:
        issue = self.jira.issue("SUP-1")
        assert issue is not None
        found: list[dict[str, Any]] = issue["fields"]["comment"]["comments"]
        return found

    def comment_bearer_calls(self) -> list[tuple[str, int]]:
        return [
            (r.caller_id, r.status)
            for r in self.jira.requests_log
            if r.auth == "bearer" and r.path.endswith("/comment")
        ]


def _first_paragraph(comment: dict[str, Any]) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = comment["body"]["content"][0]["content"]
    return content


@pytest.fixture
def thread(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> Iterator[Thread]:
    assert fake_jira.install(running_app.base_url).status_code == 204
    fake_jira.add_project("SUP", "Support", issue_types=("Task",))
    fake_jira.add_user("acc-ada", "ada@example.com", "Ada Lovelace")
    tenant = running_app.runtime.tenants.get(fake_jira.client_key)
    assert tenant is not None
    # The mail here is unsigned; the mailbox is trusted so that Ada speaks as herself.
    spec = dovecot_spec(dovecot, mail_user, policy=TRUST_MAILBOX)
    source = running_app.runtime.sources.create(tenant.id, spec)
    running_app.runtime.sources.set_enabled(tenant.id, source.id, True)
    ready = Thread(running_app, fake_jira, dovecot, mail_user, tenant.id, source.id)
    assert ready.poll() == {}  # the baseline
    first = EmailMessage()
    first["From"] = STRANGER
    first["To"] = mail_user.name
    first["Subject"] = "Printer on fire"
    first["Message-ID"] = make_msgid(domain="customer.example")
    first.set_content("The printer in room 4 is on fire.")
    dovecot.deliver(mail_user, first.as_bytes())
    assert ready.poll() == {"created": 1}
    yield ready


def test_install_stores_the_oauth_client_id(thread: Thread) -> None:
    tenant = thread.app.runtime.tenants.get(thread.jira.client_key)
    assert tenant is not None
    assert tenant.oauth_client_id == thread.jira.oauth_client_id


def test_reply_from_jira_user_is_their_own_comment_and_token_is_reused(thread: Thread) -> None:
    first_id = thread.reply("Printer on fire", "It is out now.")
    thread.reply("Printer on fire (2)", "And the toner is fine.")
    assert thread.poll() == {"commented": 2}

    comments = thread.comments()
    assert [c["author"]["accountId"] for c in comments] == ["acc-ada", "acc-ada"]
    # Written as Ada: no line naming her, the reply text first.
    assert _first_paragraph(comments[0]) == [{"type": "text", "text": "It is out now."}]
    assert "wrote by email" not in str(comments[1]["body"])
    assert thread.comment_bearer_calls() == [("acc-ada", 201), ("acc-ada", 201)]
    # One token for both comments, asked with the scopes the comment needs.
    requests = thread.jira.token_requests
    assert [(r.account_id, r.status, r.scope) for r in requests] == [("acc-ada", 200, "READ WRITE")]
    entry = thread.entry("Printer on fire")
    assert entry.outcome == "commented"
    assert "written as Ada Lovelace" in entry.trail
    # The digest property went with the user's comment: a crash after it is healed by lookup.
    tenant = thread.app.runtime.tenants.get(thread.jira.client_key)
    assert tenant is not None
    tracker = jira_tracker(thread.app.runtime, tenant)
    assert tracker.find_comment_by_digest("SUP-1", message_id_digest(first_id)) == comments[0]["id"]
    assert thread.jira.validation_failures == []


def test_reply_from_non_jira_sender_asks_for_no_token(thread: Thread) -> None:
    thread.reply("Printer on fire", "Thanks!", sender=STRANGER)
    assert thread.poll() == {"commented": 1}
    (comment,) = thread.comments()
    assert comment["author"]["accountId"] == thread.jira.app_account_id
    line = "".join(node.get("text", "") for node in _first_paragraph(comment))
    assert line == "Jürgen Müller <jurgen@customer.example> wrote by email:"
    assert thread.jira.token_requests == []
    assert not any(step.startswith("written") for step in thread.entry("Printer on fire").trail)


def test_impersonation_refused_app_writes_comment_mentioning_sender(thread: Thread) -> None:
    thread.jira.refuse_impersonation()  # the site has not consented to ACT_AS_USER
    thread.reply("Printer on fire", "It is out now.")
    assert thread.poll() == {"commented": 1}

    (comment,) = thread.comments()
    assert comment["author"]["accountId"] == thread.jira.app_account_id
    mention, said = _first_paragraph(comment)
    assert mention["type"] == "mention" and mention["attrs"]["id"] == "acc-ada"
    assert said == {"type": "text", "text": " wrote by email:"}
    entry = thread.entry("Printer on fire")
    assert entry.outcome == "commented"
    assert (
        "written by the app: the site does not let the app act as this user "
        "(authorization server answered 401: unauthorized_client)"
    ) in entry.trail
    assert thread.comment_bearer_calls() == []


def test_jira_refuses_user_comment_app_writes_it_and_says_why(thread: Thread) -> None:
    # Ada may browse but not comment: the token is granted, Jira answers 403 to her comment.
    thread.jira.set_permissions("BROWSE_PROJECTS", account_id="acc-ada")
    thread.reply("Printer on fire", "It is out now.")
    assert thread.poll() == {"commented": 1}

    (comment,) = thread.comments()
    assert comment["author"]["accountId"] == thread.jira.app_account_id
    assert _first_paragraph(comment)[0]["attrs"]["id"] == "acc-ada"
    assert thread.comment_bearer_calls() == [("acc-ada", 403)]
    trail = thread.entry("Printer on fire").trail
    assert "written by the app: Jira refused the comment as Ada Lovelace (403)" in trail


def test_authorization_server_down_postpones_then_user_writes_comment(thread: Thread) -> None:
    thread.jira.authorization.inject_fault(503)
    thread.reply("Printer on fire", "It is out now.")
    assert thread.poll() == {"pending": 1}
    assert thread.comments() == []
    entry = thread.entry("Printer on fire")
    assert entry.reason == "Jira: the authorization server answered 503"

    thread.app.runtime.email_log.postpone(entry.id, entry.reason, utc_now())
    assert thread.poll() == {"commented": 1}
    (comment,) = thread.comments()
    assert comment["author"]["accountId"] == "acc-ada"
    assert thread.poll() == {}
