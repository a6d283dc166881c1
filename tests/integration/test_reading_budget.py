"""A message that does not fit its reading budget, through the pipeline against Dovecot.

The reader runs module-level functions of this file in its worker processes: they read the
message and check its sender as the pipeline does, except that a body saying `SPIN` makes the
reading spin and one saying `SLOWCHECK` the sender check, standing in for whatever a hostile
message makes slow. The worker is killed at the budget; the message becomes an issue from its
headers with the original attached; `/healthz` keeps answering meanwhile. The pool counts its
tasks: the pipeline reads and checks a message in one, and each alone when that one is over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pytest

from connector.budget import Budget, BudgetPool
from connector.pipeline.reading import ORIGINAL_FILENAME, MessageReader
from connector.pipeline.sender_check import check_in_worker
from connector.pipeline.understanding import Understanding, understand_detached
from connector.runtime import Runtime
from connector.senders.outcome import SenderAuthentication
from connector.storage.email_log import LogEntry
from connector.wiring import poll_source
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.mailbox_support import (
    assert_answered_promptly,
    enabled_source,
    healthz_watched,
    mail,
)
from tests.servers.dovecot import Dovecot, MailUser

BUDGET_SECONDS = 1.0
T = TypeVar("T")


def _spin() -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # busy, as a runaway regex would be
        pass


def spinning_read(raw: bytes, loop_header_value: str | None) -> Understanding:
    if b"SPIN" in raw:
        _spin()
    return understand_detached(raw, loop_header_value)


def spinning_check(raw: bytes, *arguments: Any) -> SenderAuthentication:
    if b"SLOWCHECK" in raw:
        _spin()
    return check_in_worker(raw, *arguments)


class CountingPool(BudgetPool):
    """A pool that lists its tasks: the function's name and what it was for."""

    tasks: list[tuple[str, str]]

    def run(self, function: Callable[..., T], *args: Any, **options: Any) -> T:
        name = getattr(function, "__name__", repr(function))
        self.tasks.append((name, options.get("what", "read")))
        return super().run(function, *args, **options)


@dataclass
class Setup:
    app: RunningApp
    jira: FakeJira
    dovecot: Dovecot
    user: MailUser
    tenant_id: int
    source_id: int
    runtime: Runtime
    pool: CountingPool

    def deliver(self, subject: str, body: str, **headers: str) -> str:
        message = mail(subject, body, sender="Grace Hopper <grace@customer.example>", **headers)
        self.dovecot.deliver(self.user, message.as_bytes())
        return str(message["Message-ID"])


@pytest.fixture
def setup(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> Iterator[Setup]:
    tenant_id, source_id = enabled_source(running_app, fake_jira, dovecot, mail_user)
    pool = CountingPool(Budget(seconds=BUDGET_SECONDS), workers=2)
    pool.tasks = []
    reader = MessageReader(pool, read=spinning_read, check=spinning_check)
    runtime = replace(running_app.runtime, reader=reader)
    try:
        yield Setup(running_app, fake_jira, dovecot, mail_user, tenant_id, source_id, runtime, pool)
    finally:
        pool.close()


def test_reading_over_budget_creates_issue_from_headers_with_original(setup: Setup) -> None:
    first = setup.deliver("Printer on fire", "SPIN forever, please")
    setup.deliver("Paper jam", "The tray is stuck.")
    with healthz_watched(setup.app.base_url) as latencies:
        result = poll_source(setup.runtime, setup.source_id, owner="test")
    assert result.ok, result.message
    assert result.counts == {"created": 2}

    log = setup.app.runtime.email_log
    entries = {e.subject: e for e in log.search(setup.tenant_id, limit=10)}
    spun = entries["Printer on fire"]
    assert spun.outcome == "created"
    assert spun.reason.endswith(
        f"it took longer than {BUDGET_SECONDS:g} s to read: the original is attached"
    )
    assert any("not read: it took longer" in step for step in spun.trail)
    assert entries["Paper jam"].reason == f"created {entries['Paper jam'].issue_key}"

    issue = setup.jira.issue(str(spun.issue_key))
    assert issue is not None
    assert issue["fields"]["summary"] == "Printer on fire"
    assert [a["filename"] for a in issue["fields"]["attachment"]] == [ORIGINAL_FILENAME]
    description = str(issue["fields"]["description"])
    assert "could not be read within the connector's limits" in description
    assert "SPIN" not in description
    assert spun.message_id == first.strip("<>")

    assert len(latencies) >= 5
    assert_answered_promptly(latencies)


def test_reading_over_budget_reply_still_threads_as_comment(setup: Setup) -> None:
    first = setup.deliver("Printer on fire", "It is burning.")
    assert poll_source(setup.runtime, setup.source_id, owner="test").counts == {"created": 1}
    setup.deliver("Re: Printer on fire", "SPIN again", In_Reply_To=first, References=first)
    result = poll_source(setup.runtime, setup.source_id, owner="test")
    assert result.counts == {"commented": 1}
    reply = next(
        e
        for e in setup.app.runtime.email_log.search(setup.tenant_id, limit=10)
        if e.subject == "Re: Printer on fire"
    )
    assert reply.outcome == "commented"
    assert "took longer than 1 s to read" in reply.reason
    issue = setup.jira.issue(str(reply.issue_key))
    assert issue is not None
    assert [a["filename"] for a in issue["fields"]["attachment"]] == [ORIGINAL_FILENAME]


def _created(setup: Setup, subject: str, body: str) -> tuple[LogEntry, dict[str, Any]]:
    """The email-log row of a message delivered and polled, and the issue it made."""
    setup.deliver(subject, body)
    result = poll_source(setup.runtime, setup.source_id, owner="test")
    assert result.counts == {"created": 1}
    (entry,) = setup.app.runtime.email_log.search(setup.tenant_id, limit=10)
    issue = setup.jira.issue(str(entry.issue_key))
    assert issue is not None
    return entry, issue


def test_a_message_is_read_and_checked_in_one_task(setup: Setup) -> None:
    entry, _ = _created(setup, "Paper jam", "The tray is stuck.")
    assert setup.pool.tasks == [("read_and_check", "read and check the sender")]
    assert "sender not verified: the message has no DKIM signature" in entry.trail


def test_over_budget_reading_goes_on_alone_then_as_the_stand_in(setup: Setup) -> None:
    entry, issue = _created(setup, "Printer on fire", "SPIN forever, please")
    assert setup.pool.tasks == [
        ("read_and_check", "read and check the sender"),
        ("spinning_read", "read"),  # alone, with a budget of its own: over it again
        ("understand_headers", "read"),  # the stand-in
        ("spinning_check", "check the sender"),
    ]
    assert entry.reason.endswith(
        f"it took longer than {BUDGET_SECONDS:g} s to read: the original is attached"
    )
    assert [a["filename"] for a in issue["fields"]["attachment"]] == [ORIGINAL_FILENAME]


def test_a_message_slow_to_check_is_still_read_whole_and_not_verified(setup: Setup) -> None:
    entry, issue = _created(setup, "Printer on fire", "SLOWCHECK: it is burning in room 4.")
    assert setup.pool.tasks == [
        ("read_and_check", "read and check the sender"),
        ("spinning_read", "read"),
        ("spinning_check", "check the sender"),
    ]
    assert entry.reason == f"created {entry.issue_key}"
    slow = f"took longer than {BUDGET_SECONDS:g} s to check the sender"
    assert any(step.startswith("sender not verified") and slow in step for step in entry.trail)
    assert not any("going on with its headers" in step for step in entry.trail)
    assert issue["fields"].get("attachment", []) == []
    assert "it is burning in room 4" in str(issue["fields"]["description"])
