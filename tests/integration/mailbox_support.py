"""A Jira site with an enabled Dovecot mail source, mail to put in it, and a `/healthz` watch:
what the end-to-end pipeline tests share."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx

from connector.wiring import poll_source
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.sources import dovecot_spec


@dataclass
class PolledSource:
    """An enabled source on a Dovecot mailbox, polled by the test."""

    app: RunningApp
    jira: FakeJira
    dovecot: Dovecot
    user: MailUser
    tenant_id: int
    source_id: int

    def poll(self) -> dict[str, int]:
        result = poll_source(self.app.runtime, self.source_id, owner="test")
        assert result.ok, result.message
        return result.counts


def enabled_source(
    app: RunningApp,
    jira: FakeJira,
    dovecot: Dovecot,
    user: MailUser,
    *,
    issue_types: tuple[str, ...] = ("Task",),
    **spec: Any,
) -> tuple[int, int]:
    """Install the site, add project SUP, create and enable a source on `user`'s mailbox and
    take its first (baseline) poll, which processes nothing older. (tenant id, source id)."""
    assert jira.install(app.base_url).status_code == 204
    jira.add_project("SUP", "Support", issue_types=issue_types)
    runtime = app.runtime
    tenant = runtime.tenants.get(jira.client_key)
    assert tenant is not None
    source = runtime.sources.create(tenant.id, dovecot_spec(dovecot, user, **spec))
    runtime.sources.set_enabled(tenant.id, source.id, True)
    assert poll_source(runtime, source.id, owner="test").counts == {}
    return tenant.id, source.id


def mail(
    subject: str,
    body: str,
    *,
    sender: str = "Jürgen Müller <jurgen@customer.example>",
    to: str = "support@example.com",
    **headers: str,
) -> EmailMessage:
    """A plain-text message with a fresh Message-ID; `headers` add fields (`_` becomes `-`)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="customer.example")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


@contextmanager
def healthz_watched(base_url: str) -> Iterator[list[float]]:
    """Asks `/healthz` every 50 ms while the block runs; yields the answers' latencies (an
    answer other than 200 counts as infinitely slow, so a bound on the latency catches it)."""
    stop, latencies = threading.Event(), list[float]()

    def watch() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            while not stop.is_set():
                started = time.monotonic()
                ok = client.get("/healthz").status_code == 200
                latencies.append(time.monotonic() - started if ok else float("inf"))
                time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield latencies
    finally:
        stop.set()
        watcher.join()


# An answer to `/healthz` slower than this is a stall of the app, not the scheduling noise of
# a loaded two-core machine (seen once: one answer in 1.3 s while a reader process spun at
# full speed). Mail read in the app's own process would hold it for as long as the reading
# takes, with nothing to cut it short.
STALL_SECONDS = 3.0
PROMPT_SECONDS = 0.25  # the median answer


def assert_answered_promptly(latencies: list[float]) -> None:
    """What `healthz_watched` saw: enough answers, all of them 200, most at once, none after
    a stall."""
    slowest = sorted(latencies)[-5:]
    assert len(latencies) >= 3
    assert statistics.median(latencies) < PROMPT_SECONDS, slowest
    assert max(latencies) < STALL_SECONDS, slowest
