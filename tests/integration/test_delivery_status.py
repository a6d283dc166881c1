"""What a source's status says when a poll only fetches and delivery is separate work
(PostgreSQL, the queue engine): the poll says what it queued, and what each delivery came to
(created, failed...) reaches the source's latest poll as it would had the poll processed the
mail, through the fetch that does the post-actions after.

Real PostgreSQL, Dovecot and the fake Jira, through the admin API an admin's page reads."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from connector.drafts import IssueDraft, IssueTracker
from connector.engine.queue import FRESH, QueueEngine
from connector.jira.errors import JiraBadRequest
from connector.runtime import Runtime
from connector.storage.db import libpq_url
from connector.tenant import Tenant
from connector.wiring import jira_tracker, poll_source
from tests.integration.admin_support import AdminApi
from tests.integration.test_queue_delivery import _deliver_jobs, _message
from tests.integration.test_queue_engine import _run
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.sources import dovecot_spec

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
REFUSED = "Refused by Jira"


class _Refusing:
    """The real tracker, except that Jira refuses the issue of a message titled `REFUSED`."""

    def __init__(self, inner: IssueTracker) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def create_issue(self, draft: IssueDraft) -> str:
        if draft.summary == REFUSED:
            raise JiraBadRequest(400, [], {"priority": "Priority is not on the create screen"})
        return self._inner.create_issue(draft)


def _engine(runtime: Runtime) -> QueueEngine:
    def factory(rt: Runtime, tenant: Tenant) -> IssueTracker:
        return _Refusing(jira_tracker(rt, tenant))  # type: ignore[return-value]

    return QueueEngine(
        runtime,
        tracker_factory=factory,
        outbound=False,
        dispatch_every=1,
        heartbeat_seconds=1,
        stalled_seconds=3,
        concurrency=2,
    )


def _status(api: AdminApi, source_id: int) -> dict[str, Any]:
    """The source as the mail-sources page lists it."""
    answer = api.call("GET", "/mail-sources")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = next(s for s in answer.json()["sources"] if s["id"] == source_id)
    return found


def _owed(runtime: Runtime) -> int:
    with psycopg.connect(libpq_url(runtime.settings.database_url)) as connection:
        row = connection.execute("SELECT count(*) FROM email_log WHERE post_action_due").fetchone()
    assert row is not None
    return int(row[0])


def test_the_source_status_shows_what_delivery_came_to_not_only_what_was_fetched(
    api: AdminApi, dovecot: Dovecot, mail_user: MailUser
) -> None:
    runtime = api.app.runtime
    source = runtime.sources.create(api.tenant_id, dovecot_spec(dovecot, mail_user))
    runtime.sources.set_enabled(api.tenant_id, source.id, True)
    assert poll_source(runtime, source.id, owner="baseline").ok  # the cursor at the end
    dovecot.deliver_files(mail_user, [_message(1, "Printer on fire"), _message(2, REFUSED)])
    engine = _engine(runtime)

    _run(engine, lambda: engine._poll_job(source.id, FRESH))  # the fetch only
    fetched = _status(api, source.id)
    assert fetched["status"] == "ok"
    assert fetched["status_message"] == "2 queued for delivery"
    poll = fetched["poll"]
    assert poll["state"] == "idle" and poll["ok"] is True
    assert (poll["fetched"], poll["queued"], poll["processed"], poll["failed"]) == (2, 2, 0, 0)
    assert poll["counts"] == {}

    # Each job as a worker runs it: the outcomes reach the poll that fetched the mail.
    for entry_id, _, _ in _deliver_jobs(runtime):
        assert engine._deliverer.deliver(entry_id).processed is not None
    delivered = _status(api, source.id)
    poll = delivered["poll"]
    assert (poll["fetched"], poll["queued"], poll["processed"], poll["failed"]) == (2, 0, 2, 1)
    assert poll["counts"] == {"created": 1, "failed": 1}
    assert delivered["failed_messages"] == 1
    assert _owed(runtime) == 2  # the mailbox's post-actions: the next fetch's

    # The fetch that follows does the post-action; as the source's latest poll it still
    # says what the delivered mail came to, not "no new mail".
    _run(engine, lambda: engine._poll_job(source.id, FRESH))
    assert _owed(runtime) == 0
    assert ["\\Seen" in m.flags for m in dovecot.messages(mail_user)] == [True, False]
    settled = _status(api, source.id)
    assert settled["status"] == "ok" and settled["status_message"] == "no new mail"
    poll = settled["poll"]
    assert (poll["queued"], poll["processed"], poll["failed"]) == (0, 2, 1)
    assert poll["counts"] == {"created": 1, "failed": 1}
    assert settled["failed_messages"] == 1
