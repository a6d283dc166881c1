"""A message that does not fit its reading budget, through the pipeline against Dovecot.

The reader runs a module-level function of this file in its worker processes: it reads the
message as the pipeline does, except that a body saying `SPIN` makes it spin, standing in for
whatever a hostile message makes slow. The worker is killed at the budget; the message becomes
an issue from its headers with the original attached; `/healthz` keeps answering meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest

from connector.budget import Budget, BudgetPool
from connector.pipeline.reading import ORIGINAL_FILENAME, MessageReader
from connector.pipeline.understanding import Understanding, understand_detached
from connector.runtime import Runtime
from connector.wiring import poll_source
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.mailbox_support import enabled_source, healthz_watched, mail
from tests.servers.dovecot import Dovecot, MailUser

BUDGET_SECONDS = 1.0


def spinning_read(raw: bytes, loop_header_value: str | None) -> Understanding:
    if b"SPIN" in raw:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # busy, as a runaway regex would be
            pass
    return understand_detached(raw, loop_header_value)


@dataclass
class Setup:
    app: RunningApp
    jira: FakeJira
    dovecot: Dovecot
    user: MailUser
    tenant_id: int
    source_id: int
    runtime: Runtime

    def deliver(self, subject: str, body: str, **headers: str) -> str:
        message = mail(subject, body, sender="Grace Hopper <grace@customer.example>", **headers)
        self.dovecot.deliver(self.user, message.as_bytes())
        return str(message["Message-ID"])


@pytest.fixture
def setup(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> Iterator[Setup]:
    tenant_id, source_id = enabled_source(running_app, fake_jira, dovecot, mail_user)
    pool = BudgetPool(Budget(seconds=BUDGET_SECONDS), workers=2)
    runtime = replace(running_app.runtime, reader=MessageReader(pool, read=spinning_read))
    try:
        yield Setup(running_app, fake_jira, dovecot, mail_user, tenant_id, source_id, runtime)
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
    assert max(latencies) < 1.0, latencies


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
