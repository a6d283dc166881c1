"""A Microsoft Graph source with delivery as separate work (PostgreSQL, the queue engine): a
poll job fetches the mail from Graph, delivery jobs deliver it, and the fetch that follows does
the configured post-action on each message, once, from the key stored in the email log
(`MessageRef.from_key`). Graph is the fake on respx; Jira the fake on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage

import psycopg
import pytest

from connector.outcomes import Outcome
from connector.storage.db import libpq_url
from connector.storage.times import utc_now
from tests.fakes.graph import DELETED_ID, INBOX_ID, FakeGraph, FakeMessage, graph_on_respx
from tests.integration.admin_support import AdminApi
from tests.integration.conftest import RunningApp
from tests.integration.test_delivery_status import REFUSED, _engine, _status
from tests.integration.test_graph_push import PUBLIC, graph_source
from tests.integration.test_queue_delivery import _finals
from tests.integration.worker_support import running, wait_for

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def graph(running_app: RunningApp) -> Iterator[FakeGraph]:
    with graph_on_respx(PUBLIC, running_app.base_url) as fake:
        yield fake


def _mail(graph: FakeGraph, number: int, subject: str, **headers: str) -> FakeMessage:
    message = EmailMessage()
    message["From"] = f"Customer {number} <customer{number}@example.com>"
    message["To"] = "support@contoso.com"
    message["Subject"] = subject
    message["Message-ID"] = f"<graph-{number}@example.com>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(f"Message number {number}.\n")
    return graph.deliver(message.as_bytes(), message["Message-ID"])


def _owed(api: AdminApi) -> int:
    with psycopg.connect(libpq_url(api.app.runtime.settings.database_url)) as connection:
        row = connection.execute(
            "SELECT count(*) FROM email_log WHERE post_action_due OR claimed_until IS NOT NULL"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("after_processing", "changes"),
    [("mark_read", ["PATCH"]), ("move", ["move"]), ("delete", ["DELETE"])],
)
def test_graph_mail_delivered_by_jobs_gets_its_post_action_from_the_next_fetch_once(
    api: AdminApi, graph: FakeGraph, after_processing: str, changes: list[str]
) -> None:
    runtime = api.app.runtime
    source_id = graph_source(api, push=False)  # baseline taken: the mail below is new
    source = runtime.sources.find(source_id)
    assert source is not None
    spec = source.spec.with_changes(
        after_processing=after_processing, success_folder="Done", failure_folder="Failed"
    )
    assert runtime.sources.update(api.tenant_id, source_id, spec) is not None
    new = [_mail(graph, n, f"Case {n}") for n in range(3)]
    reply = _mail(graph, 9, "Re: Case 0", References="<graph-0@example.com>")
    refused = _mail(graph, 5, REFUSED)  # Jira refuses its issue: it fails
    runtime.sources.record_poll(source_id, ok=True, message="", next_poll_at=utc_now())

    with running(_engine(runtime)):
        assert wait_for(lambda: len(_finals(runtime, api.tenant_id)) == 5, 60)
        # The last delivery queues a fetch of the source, which does the post-actions.
        assert wait_for(lambda: _owed(api) == 0 and all(graph.changes_to(m) for m in new), 30)
    outcomes = sorted(_finals(runtime, api.tenant_id).values())
    assert outcomes == sorted([Outcome.CREATED] * 3 + [Outcome.COMMENTED, Outcome.FAILED])
    for message in [*new, reply]:
        assert graph.changes_to(message) == changes, message.id
        if after_processing == "mark_read":
            assert message.read and message.folder == INBOX_ID
        elif after_processing == "move":
            assert message.folder == graph.folders["Done"]
        else:
            assert message.folder == DELETED_ID
    assert graph.changes_to(refused) == ["move"]  # a failure goes to the failure folder
    assert refused.folder == graph.folders["Failed"] and not refused.read
    assert sorted(graph.folders) == (
        ["Done", "Failed"] if after_processing == "move" else ["Failed"]
    )
    poll = _status(api, source_id)["poll"]
    assert (poll["queued"], poll["failed"]) == (0, 1)
    assert poll["counts"] == {"created": 3, "commented": 1, "failed": 1}
