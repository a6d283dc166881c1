"""Crash test (issue 5): the worker is killed at random points while processing a mailbox,
including between Jira's answer and our commit, and restarted until done. Afterwards every
message made exactly one issue or comment, and every message has one final log row. On
PostgreSQL it also runs with three queue workers (`connector.engine.queue`) killed at random.

It runs for a Connect install (the issue found again by its indexed entity property), for a
Jira Cloud site connected with an API token and no install, and for a Jira Data Center server
connected with a personal access token (issue 20: nothing indexes our property on either, so
the issue is found by its marker label, `connector.jira.markers`, over REST v3 or v2).

CI runs it small (CRASH_TEST_MESSAGES, default 30); the large run is
`CRASH_TEST_MESSAGES=300 uv run pytest tests/integration/test_crash.py -s`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from connector.jira.auth import tenant_site
from connector.jira.client import JiraClient
from connector.jira.errors import JiraBadRequest
from connector.jira.markers import marker_label
from connector.jira.tracker import JiraTracker
from connector.routing.match import message_id_digest
from connector.runtime import Runtime
from connector.storage.times import utc_now
from connector.tenant import Tenant
from connector.wiring import poll_source
from descriptor.render import message_property_key
from tests.fakes.datacenter import FakeJiraDataCenter
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.sites_support import connect_datacenter, connect_site
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.sources import dovecot_spec

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = int(os.environ.get("CRASH_TEST_MESSAGES", "30"))
MAX_RUNS = 40 + MESSAGES


def _messages(count: int) -> tuple[list[bytes], list[str], list[str]]:
    """New mail, and every third message a reply (by References only) to an earlier one."""
    raws: list[bytes] = []
    new_ids: list[str] = []
    reply_ids: list[str] = []
    for index in range(count):
        message = EmailMessage()
        message["From"] = f"Customer {index} <customer{index}@example.com>"
        message["To"] = "support@example.com"
        message_id = f"<crash-{index}@example.com>"
        message["Message-ID"] = message_id
        if index % 3 == 2 and new_ids:
            message["Subject"] = f"More about case {index - 1}"
            message["References"] = new_ids[-1]
            reply_ids.append(message_id)
        else:
            message["Subject"] = f"Case {index}"
            new_ids.append(message_id)
        message.set_content(f"Message number {index}.\n")
        raws.append(message.as_bytes())
    return raws, new_ids, reply_ids


Site = FakeJira | FakeJiraDataCenter


def _tenant(
    kind: str, running_app: RunningApp, site: Site, monkeypatch: pytest.MonkeyPatch
) -> Tenant:
    if kind != "connect":
        if isinstance(site, FakeJiraDataCenter):
            tenant = connect_datacenter(monkeypatch, running_app, site)
        else:
            tenant, _ = connect_site(monkeypatch, running_app, site)
        # What makes these cases different: the site cannot search our property.
        app_key = running_app.runtime.settings.app_key
        by_property = JiraTracker(
            JiraClient(tenant_site(tenant, app_key=app_key)),
            property_key=message_property_key(app_key),
        )
        with pytest.raises(JiraBadRequest):
            by_property.find_issue_by_digest(message_id_digest("<x@example.com>"))
        return tenant
    assert isinstance(site, FakeJira)
    assert site.install(running_app.base_url).status_code == 204
    found = running_app.runtime.tenants.get(site.client_key)
    assert found is not None
    return found


@dataclass
class _Crashing:
    """A source with MESSAGES new messages waiting, and the environment of a worker child."""

    kind: str
    site: Site
    runtime: Runtime
    tenant: Tenant
    source_id: int
    env: dict[str, str]
    new_ids: list[str]
    reply_ids: list[str]

    def done(self) -> int:
        entries = self.runtime.email_log.search(self.tenant.id, limit=10 * MESSAGES)
        return sum(1 for entry in entries if entry.final)


def _crashing(
    kind: str,
    running_app: RunningApp,
    dovecot: Dovecot,
    mail_user: MailUser,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> _Crashing:
    site: Site
    if kind == "datacenter":
        site = request.getfixturevalue("fake_datacenter")  # has project SUP
    else:
        site = request.getfixturevalue("fake_jira")
        site.add_project("SUP", "Support")
    runtime = running_app.runtime
    tenant = _tenant(kind, running_app, site, monkeypatch)
    spec = dovecot_spec(dovecot, mail_user, name="crashing", timeout_seconds=10)
    source = runtime.sources.create(tenant.id, spec)
    runtime.sources.set_enabled(tenant.id, source.id, True)
    assert poll_source(runtime, source.id, owner="crash-test-worker").ok  # the baseline
    raws, new_ids, reply_ids = _messages(MESSAGES)
    dovecot.deliver_files(mail_user, raws)

    settings = runtime.settings
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BASE_URL": settings.base_url,
        "DATABASE_URL": settings.database_url,
        "ENCRYPTION_KEY": ",".join(settings.encryption_keys),
        "CONNECT_INSTALL_KEYS_URL": settings.connect_install_keys_url,
        "SOURCE_ID": str(source.id),
        "CRASH_RATE": "0.15",
        "POLL_LIMIT": "25",
    }
    return _Crashing(kind, site, runtime, tenant, source.id, env, new_ids, reply_ids)


def _child(env: dict[str, str], seed: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.crash_child"],
        env={**env, "CRASH_SEED": str(seed)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("kind", ["connect", "api-token", "datacenter"])
@pytest.mark.timeout(120 + 4 * MESSAGES)  # each worker run starts a Python process
def test_crash_killed_worker_processes_every_message_exactly_once(
    running_app: RunningApp,
    dovecot: Dovecot,
    mail_user: MailUser,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    kind: str,
) -> None:
    crashing = _crashing(kind, running_app, dovecot, mail_user, monkeypatch, request)
    chance = random.Random(20261121)
    exits: Counter[str] = Counter()
    for run in range(MAX_RUNS):
        child = _child(crashing.env, run)
        if chance.random() < 0.4:
            time.sleep(chance.uniform(0.5, 3.0))
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
        output, _ = child.communicate(timeout=120)
        exits["killed" if child.returncode == -signal.SIGKILL else str(child.returncode)] += 1
        if child.returncode == 0 and "counts={}" in output and crashing.done() == MESSAGES:
            break
    else:
        raise AssertionError(f"not done after {MAX_RUNS} runs: exits {dict(exits)}")
    print(f"\ncrash test: {MESSAGES} messages, {run + 1} worker runs, exits {dict(exits)}")
    _assert_exactly_once(crashing)


WORKERS = 3


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.timeout(300 + 6 * MESSAGES)
def test_crash_three_queue_workers_killed_at_random_process_every_message_exactly_once(
    running_app: RunningApp,
    dovecot: Dovecot,
    mail_user: MailUser,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Three `connector worker`s on PostgreSQL share the source through the task queue; they
    die by themselves (between Jira's answer and our commit) or are killed from outside, and
    a new one takes each one's place until every message is final."""
    crashing = _crashing("connect", running_app, dovecot, mail_user, monkeypatch, request)
    crashing.env["CRASH_MODE"] = "worker"
    # Due now: the dispatch job of whichever worker ticks first queues the poll.
    crashing.runtime.sources.record_poll(
        crashing.source_id, ok=True, message="", next_poll_at=utc_now()
    )
    chance = random.Random(20261206)
    exits: Counter[str] = Counter()
    seeds = iter(range(10_000))
    workers = [_child(crashing.env, next(seeds)) for _ in range(WORKERS)]
    deadline = time.monotonic() + 240 + 6 * MESSAGES
    try:
        while crashing.done() < MESSAGES:
            assert time.monotonic() < deadline, f"not done in time: exits {dict(exits)}"
            # A new worker takes seconds to start (and its readers to spawn): kill now and then.
            time.sleep(chance.uniform(2.0, 6.0))
            if not exits or chance.random() < 0.25:  # at least one killed from outside
                chance.choice(workers).send_signal(signal.SIGKILL)
            for index, worker in enumerate(workers):
                if worker.poll() is not None:
                    worker.communicate()
                    code = worker.returncode
                    exits["killed" if code == -signal.SIGKILL else str(code)] += 1
                    workers[index] = _child(crashing.env, next(seeds))
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.communicate(timeout=60)
    print(f"\ncrash test: {MESSAGES} messages, {WORKERS} workers, exits {dict(exits)}")
    assert sum(exits.values()) > 0  # workers did die, and others finished their work
    _assert_exactly_once(crashing)


def _assert_exactly_once(crashing: _Crashing) -> None:
    runtime, tenant, site = crashing.runtime, crashing.tenant, crashing.site
    new_ids, reply_ids = crashing.new_ids, crashing.reply_ids
    entries = runtime.email_log.search(tenant.id, limit=10 * MESSAGES)
    assert len(entries) == MESSAGES
    assert Counter(e.outcome for e in entries) == {
        "created": len(new_ids),
        "commented": len(reply_ids),
    }
    issues = [site.issue(key) for key in site.issue_keys()]
    stamps = Counter(
        value["messageIdDigest"]
        for issue in issues
        if issue is not None
        for value in issue["properties"].values()
    )
    assert stamps == Counter(message_id_digest(i) for i in new_ids)
    if crashing.kind != "connect":
        labels = Counter(label for issue in issues if issue for label in issue["fields"]["labels"])
        assert labels == Counter(marker_label(message_id_digest(i)) for i in new_ids)
    client = JiraClient(tenant_site(tenant, app_key=runtime.settings.app_key))
    comment_stamps = Counter(
        prop["value"]["messageIdDigest"]
        for key in site.issue_keys()
        for comment in client.get_comments(key, with_properties=True)
        for prop in comment.get("properties", [])
    )
    assert comment_stamps == Counter(message_id_digest(i) for i in reply_ids)
    assert site.validation_failures == []
