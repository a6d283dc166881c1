"""Microsoft Graph change notifications (issue 16, item 3) against a fake Graph on respx and
the app on loopback: the validation handshake, clientState checks, subscribing, renewal at
half-life, each lifecycle event, the fallback to polling, and a notification storm that
becomes one Jira issue through the worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from connector.mail_source import SourceSpec
from connector.oauth_store import OAuthApp, connected_json
from connector.push.graph_api import MAX_LIFETIME
from connector.push.graph_push import GraphPush
from connector.push.idle_watcher import IdleWatcher
from connector.push.state import DISABLED, PUSH_OFF
from connector.push.sync import PushSync
from connector.retry import RetryPolicy
from connector.scheduler import Scheduler
from connector.sources.oauth_config import OAuthTokens
from connector.wiring import poll_source
from tests.fakes.graph import INBOX_ID, MAILBOX, FakeGraph, graph_on_respx
from tests.integration.admin_support import AdminApi
from tests.integration.conftest import RunningApp
from tests.integration.mailbox_support import mail
from tests.integration.worker_support import receives, running, wait_for

PUBLIC = "https://connector.example.com"
PUSHED = "push (Graph notifications)"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def graph(running_app: RunningApp) -> Iterator[FakeGraph]:
    with graph_on_respx(PUBLIC, running_app.base_url) as fake:
        yield fake


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def graph_source(api: AdminApi, *, push: bool = True) -> int:
    """An enabled Graph source signed in with application access, polled once an hour, its
    first (baseline) poll taken: only push can make it poll during the test."""
    runtime = api.app.runtime
    # Made as IMAP and signed in, then switched to Graph: a Graph source without OAuth
    # cannot be stored (nor loaded), as in the admin's own steps.
    imap = SourceSpec(
        name="Support (Microsoft 365)",
        protocol="imap",
        host="outlook.office365.com",
        port=993,
        security="ssl",
        username=MAILBOX,
        password="app-password",
        project_key="SUP",
        issue_type="Task",
        interval_minutes=60,
        push=push,
    )
    source = runtime.sources.create(api.tenant_id, imap)
    app = OAuthApp("microsoft", "client-id", "client-secret", "contoso.example", "application")
    tokens = OAuthTokens(
        access_token="graph-access-token",
        refresh_token=None,
        expires_at=datetime.now(UTC) + timedelta(days=1),
        scopes=("https://graph.microsoft.com/.default",),
        account=None,
    )
    assert runtime.sources.change_oauth(
        source.id, lambda _: connected_json(app, tokens), clear_password=True
    )
    spec = imap.with_changes(
        protocol="graph", host="graph.microsoft.com", port=443, password=None, uses_oauth=True
    )
    assert runtime.sources.update(api.tenant_id, source.id, spec) is not None
    runtime.sources.set_enabled(api.tenant_id, source.id, True)
    assert poll_source(runtime, source.id, owner="test").ok
    return source.id


def pusher(
    api: AdminApi, notified: list[int], *, owner: str = "worker-a", **kwargs: Any
) -> GraphPush:
    kwargs.setdefault("base_url", PUBLIC)
    return GraphPush(api.app.runtime, owner=owner, on_mail=notified.append, **kwargs)


def clocked(api: AdminApi, graph: FakeGraph, **kwargs: Any) -> tuple[GraphPush, Clock]:
    """A worker and the fake Graph sharing a clock the test moves."""
    clock = Clock(datetime.now(UTC))
    graph.clock = clock
    return pusher(api, kwargs.pop("notified", []), clock=clock, **kwargs), clock


def post(api: AdminApi, path: str, payload: Any = None, **params: str) -> httpx.Response:
    return httpx.post(f"{api.app.base_url}{path}", json=payload, params=params, timeout=10)


def subscription_calls(graph: FakeGraph) -> list[str]:
    return [method for method, path in graph.calls if path.startswith("/subscriptions")]


@pytest.mark.parametrize("path", ["/graph/notifications", "/graph/lifecycle"])
def test_validation_token_is_echoed_as_plain_text(running_app: RunningApp, path: str) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 1"
    answer = httpx.post(f"{running_app.base_url}{path}", params={"validationToken": token})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == token  # decoded from the query, as Graph compares it


def test_what_is_no_notification_batch_is_refused(api: AdminApi) -> None:
    def answer(payload: Any) -> int:
        return post(api, "/graph/notifications", payload).status_code

    assert answer({"value": []}) == 400
    assert answer({"value": "x"}) == 400
    assert answer({"value": [{"subscriptionId": "s", "clientState": "c"}] * 1001}) == 400
    assert answer({"value": [{"clientState": "c"}, 7]}) == 403  # nothing could be checked
    raw = httpx.post(f"{api.app.base_url}/graph/lifecycle", content=b"{not json", timeout=10)
    assert raw.status_code == 400


def test_subscribes_to_created_messages_on_the_folder_and_the_list_says_push(
    api: AdminApi, graph: FakeGraph
) -> None:
    source_id = graph_source(api)
    notified: list[int] = []
    before = datetime.now(UTC)
    pusher(api, notified).sync()

    body = graph.only_subscription().body
    assert body["changeType"] == "created"
    assert body["resource"] == f"users/{MAILBOX}/mailFolders/{INBOX_ID}/messages"
    assert body["notificationUrl"] == f"{PUBLIC}/graph/notifications"
    assert body["lifecycleNotificationUrl"] == f"{PUBLIC}/graph/lifecycle"
    assert graph.validated == [body["notificationUrl"], body["lifecycleNotificationUrl"]]
    asked = datetime.fromisoformat(body["expirationDateTime"].replace("Z", "+00:00"))
    assert before + MAX_LIFETIME - timedelta(minutes=1) <= asked <= before + MAX_LIFETIME * 1.001
    assert len(body["clientState"]) >= 32
    assert notified == [source_id]  # a delta sync right after subscribing
    assert receives(api, source_id) == PUSHED
    with api.app.runtime.engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM graph_subscriptions")).mappings().one()
    assert body["clientState"] not in str(dict(row))  # only its hash is stored


def test_client_state_mismatch_is_refused_and_the_right_one_polls_once(
    api: AdminApi, graph: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    source_id = graph_source(api)
    notified: list[int] = []
    push = pusher(api, notified)
    push.sync()
    notified.clear()
    subscription = graph.only_subscription()
    message = graph.deliver(b"Subject: x\r\n\r\nx\r\n", "<x@example.org>")

    forged = post(api, "/graph/notifications", graph.notification(subscription, message, "guess"))
    assert forged.status_code == 403
    unknown = graph.notification(subscription, message)
    unknown["value"][0]["subscriptionId"] = "6b1ee3c1-0000-4000-8000-000000000000"
    assert post(api, "/graph/notifications", unknown).status_code == 403
    assert push.take_notified() == [] and notified == []
    assert "clientState mismatch" in caplog.text and "guess" not in caplog.text

    good = post(api, "/graph/notifications", graph.notification(subscription, message))
    assert good.status_code == 202
    assert push.take_notified() == [source_id] and notified == [source_id]
    assert push.take_notified() == []  # each mark is taken once

    mixed = graph.notification(subscription, message, "guess")
    mixed["value"] += graph.notification(subscription, message)["value"] * 3
    assert post(api, "/graph/notifications", mixed).status_code == 202  # the good ones count
    assert push.take_notified() == [source_id]


def test_renewed_at_half_life_asking_at_most_4230_minutes(api: AdminApi, graph: FakeGraph) -> None:
    graph_source(api)
    push, clock = clocked(api, graph)
    start = clock.now
    push.sync()
    subscription = graph.only_subscription()
    half = (subscription.expires_at - start) / 2

    clock.now = start + half - timedelta(minutes=2)
    push.sync()
    assert subscription_calls(graph) == ["POST"]  # not yet

    clock.now = start + half + timedelta(seconds=1)
    push.sync()
    assert subscription_calls(graph) == ["POST", "PATCH"]
    assert subscription.expires_at == (clock.now + MAX_LIFETIME).replace(microsecond=0)
    push.sync()
    assert subscription_calls(graph) == ["POST", "PATCH"]  # the next half-life is far


def test_a_subscription_graph_lost_is_made_again_at_renewal(
    api: AdminApi, graph: FakeGraph
) -> None:
    source_id = graph_source(api)
    notified: list[int] = []
    push, clock = clocked(api, graph, notified=notified)
    start = clock.now
    push.sync()
    graph.remove(graph.only_subscription())  # expired or removed without a word
    notified.clear()
    clock.now = start + MAX_LIFETIME / 2 + timedelta(minutes=1)
    push.sync()
    assert subscription_calls(graph) == ["POST", "PATCH", "POST"]
    assert len(graph.subscriptions) == 1 and notified == [source_id]
    assert receives(api, source_id) == PUSHED


def test_a_refused_renewal_polls_says_why_and_subscribes_anew(
    api: AdminApi, graph: FakeGraph
) -> None:
    source_id = graph_source(api)
    push, clock = clocked(api, graph, retry=RetryPolicy((timedelta(0),)))  # again at once
    start = clock.now
    push.sync()
    old = graph.only_subscription()
    graph.refuse_renewal = True
    clock.now = start + MAX_LIFETIME / 2 + timedelta(minutes=1)
    push.sync()
    assert receives(api, source_id).startswith(
        "polling: Graph notifications could not be set up (Microsoft Graph refused to renew "
        "the subscription"
    )
    graph.refuse_renewal = False  # access is back (say, the admin signed in again)
    push.sync()
    assert subscription_calls(graph) == ["POST", "PATCH", "DELETE", "POST"]
    assert graph.only_subscription().id != old.id
    assert receives(api, source_id) == PUSHED


def test_saving_other_settings_keeps_the_subscription(api: AdminApi, graph: FakeGraph) -> None:
    source_id = graph_source(api)
    push = pusher(api, [])
    push.sync()
    runtime = api.app.runtime
    source = runtime.sources.get(api.tenant_id, source_id)
    assert source is not None
    runtime.sources.update(api.tenant_id, source_id, source.spec.with_changes(interval_minutes=5))
    push.sync()
    assert subscription_calls(graph) == ["POST"]
    runtime.sources.update(api.tenant_id, source_id, source.spec.with_changes(folder="inbox"))
    push.sync()  # another folder (here: the same one, spelt otherwise) needs a new one
    assert subscription_calls(graph) == ["POST", "DELETE", "POST"]
    assert len(graph.subscriptions) == 1


def test_reauthorization_required_patches_the_expiry(api: AdminApi, graph: FakeGraph) -> None:
    source_id = graph_source(api)
    push = pusher(api, [])
    push.sync()
    subscription = graph.only_subscription()
    answer = post(api, "/graph/lifecycle", graph.lifecycle(subscription, "reauthorizationRequired"))
    assert answer.status_code == 202
    push.sync()
    assert subscription_calls(graph) == ["POST", "PATCH"]
    stored = api.app.runtime.graph_subscriptions.get(source_id)
    assert stored is not None and stored.pending == ""
    push.sync()
    assert subscription_calls(graph) == ["POST", "PATCH"]  # done once


def test_subscription_removed_subscribes_again_then_polls(api: AdminApi, graph: FakeGraph) -> None:
    source_id = graph_source(api)
    notified: list[int] = []
    push = pusher(api, notified)
    push.sync()
    old = graph.only_subscription()
    graph.remove(old)
    answer = post(api, "/graph/lifecycle", graph.lifecycle(old, "subscriptionRemoved"))
    assert answer.status_code == 202
    notified.clear()

    push.sync()
    new = graph.only_subscription()
    assert new.id != old.id and new.body["clientState"] != old.body["clientState"]
    assert notified == [source_id]  # then a delta sync for what came meanwhile
    message = graph.deliver(b"Subject: x\r\n\r\nx\r\n", "<x@example.org>")
    assert post(api, "/graph/notifications", graph.notification(old, message)).status_code == 403
    assert post(api, "/graph/notifications", graph.notification(new, message)).status_code == 202
    assert receives(api, source_id) == PUSHED


def test_missed_notifications_make_a_delta_sync(api: AdminApi, graph: FakeGraph) -> None:
    source_id = graph_source(api)
    notified: list[int] = []
    push = pusher(api, notified)
    push.sync()
    notified.clear()
    answer = post(api, "/graph/lifecycle", graph.lifecycle(graph.only_subscription(), "missed"))
    assert answer.status_code == 202
    assert push.take_notified() == [source_id] and notified == [source_id]
    assert subscription_calls(graph) == ["POST"]  # the subscription itself is fine


def test_loopback_base_url_keeps_polling_and_says_why(
    api: AdminApi, graph: FakeGraph, running_app: RunningApp
) -> None:
    source_id = graph_source(api)
    calls_before = list(graph.calls)
    pusher(api, [], base_url=None).sync()  # the app's own BASE_URL: loopback
    assert graph.calls == calls_before and graph.subscriptions == {}
    assert receives(api, source_id) == (
        f"polling: BASE_URL {running_app.base_url} is not reachable from Microsoft "
        "(a loopback address), so Graph cannot send notifications"
    )


@pytest.mark.parametrize("change", ["push off", "disabled"])
def test_push_off_or_disabled_ends_the_subscription_at_graph(
    api: AdminApi, graph: FakeGraph, change: str
) -> None:
    source_id = graph_source(api)
    push = pusher(api, [])
    push.sync()
    subscription = graph.only_subscription()
    runtime = api.app.runtime
    source = runtime.sources.get(api.tenant_id, source_id)
    assert source is not None
    if change == "push off":
        runtime.sources.update(api.tenant_id, source_id, source.spec.with_changes(push=False))
    else:
        runtime.sources.set_enabled(api.tenant_id, source_id, False)
    push.sync()
    assert graph.subscriptions == {}
    assert ("DELETE", f"/subscriptions/{subscription.id}") in graph.calls
    assert runtime.graph_subscriptions.get(source_id) is None
    assert receives(api, source_id) == f"polling: {PUSH_OFF if change == 'push off' else DISABLED}"


def test_deleted_source_ends_its_subscription_at_graph_and_forgets_it(
    api: AdminApi, graph: FakeGraph
) -> None:
    source_id = graph_source(api)
    pusher(api, []).sync()
    subscription = graph.only_subscription()
    assert api.call("DELETE", f"/mail-sources/{source_id}").status_code in (200, 204)
    assert subscription_calls(graph) == ["POST", "DELETE"]
    assert ("DELETE", f"/subscriptions/{subscription.id}") in graph.calls
    assert graph.subscriptions == {}
    assert api.app.runtime.graph_subscriptions.get(source_id) is None
    message = graph.deliver(b"Subject: x\r\n\r\nx\r\n", "<x@example.org>")
    assert (
        post(api, "/graph/notifications", graph.notification(subscription, message)).status_code
        == 403
    )


@pytest.mark.parametrize(
    "failure", [503, 403, httpx.ReadTimeout("timed out")], ids=["down", "refused", "slow"]
)
def test_a_failing_end_at_graph_does_not_stop_the_delete_and_is_logged(
    api: AdminApi,
    graph: FakeGraph,
    caplog: pytest.LogCaptureFixture,
    failure: int | Exception,
) -> None:
    source_id = graph_source(api)
    pusher(api, []).sync()
    subscription = graph.only_subscription()
    graph.fail_end = failure
    caplog.set_level(logging.WARNING, logger="connector.push.graph_end")
    answer = api.call("DELETE", f"/mail-sources/{source_id}")
    assert answer.status_code == 200 and answer.json()["deleted"] is True
    assert subscription_calls(graph) == ["POST", "DELETE"]  # tried once, no retries
    assert api.app.runtime.sources.get(api.tenant_id, source_id) is None
    assert api.app.runtime.graph_subscriptions.get(source_id) is None
    assert list(graph.subscriptions) == [subscription.id]  # left to lapse at Graph
    failed = [r.getMessage() for r in caplog.records if "push.graph_end_failed" in r.getMessage()]
    assert len(failed) == 1
    assert f"source_id={source_id}" in failed[0] and subscription.id in failed[0]


def test_the_idle_side_leaves_graph_sources_alone(api: AdminApi, graph: FakeGraph) -> None:
    source_id = graph_source(api)
    watcher = IdleWatcher(on_mail=lambda _: None)
    try:
        PushSync(api.app.runtime, watcher, owner="worker-a").sync(force=True)
        assert str(source_id) not in watcher.states()
    finally:
        watcher.stop()
    assert receives(api, source_id) == ""  # Graph push writes it, not the IDLE side


def test_one_worker_keeps_the_subscription(api: AdminApi, graph: FakeGraph) -> None:
    graph_source(api)
    first, second = pusher(api, [], owner="worker-a"), pusher(api, [], owner="worker-b")
    first.sync()
    second.sync()
    first.sync()
    assert subscription_calls(graph) == ["POST"]
    assert first.holds_any and not second.holds_any


# -- end to end: notifications -> worker -> delta query -> one Jira issue --------------------


def test_a_message_notified_three_times_becomes_one_issue(api: AdminApi, graph: FakeGraph) -> None:
    source_id = graph_source(api)
    runtime = api.app.runtime
    # Ticks 30 s apart and the source's next poll an hour away: only push polls it.
    worker = Scheduler(
        runtime, tick_seconds=30, push=True, push_sync_seconds=0.2, graph_base_url=PUBLIC
    )
    with running(worker):
        assert wait_for(lambda: receives(api, source_id) == PUSHED, 10)
        time.sleep(0.5)  # the delta sync after subscribing is over
        sent = mail("Printer on fire", "Third floor, again.")
        message = graph.deliver(sent.as_bytes(), str(sent["Message-ID"]))
        storm = graph.notification(graph.only_subscription(), message)
        answers = [post(api, "/graph/notifications", storm) for _ in range(3)]
        assert [a.status_code for a in answers] == [202, 202, 202]
        assert wait_for(lambda: len(api.jira.issue_keys()) == 1, 10), "not pushed within 10 s"
        time.sleep(1.5)  # room for every poll the storm caused
    assert len(api.jira.issue_keys()) == 1
    logged = runtime.email_log.search(api.tenant_id, source_id=source_id)
    assert [entry.subject for entry in logged] == ["Printer on fire"]
    assert message.read  # the post-action ran once the issue was made
