"""A worker that dies: polls one source once, and may kill itself right after Jira answers.

Run by tests/integration/test_crash.py as `python -m tests.integration.crash_child`; the parent
also kills it at random moments from outside. Settings come from the environment. With
CRASH_MODE=worker it is instead one of several `connector worker`s on PostgreSQL (the task
queue of `connector.engine.queue`: its polls fetch and queue a delivery job per message), with
short heartbeats, leases and claims so that the others take over its work within seconds, and
runs until it is stopped or dies.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable
from datetime import timedelta

from connector import logs
from connector.drafts import (
    AddedComment,
    CommentDraft,
    IssueDraft,
    IssueInfo,
    IssueTracker,
    JiraPerson,
)
from connector.engine.queue import QueueEngine
from connector.mail.inbound import MailAttachment
from connector.pipeline import decide
from connector.runtime import Runtime
from connector.settings import Settings
from connector.tenant import Tenant
from connector.wiring import jira_tracker, poll_source


class DyingTracker:
    """Delegates to the real tracker, and now and then dies between Jira's answer and our
    commit: the window the entity-property stamp exists for."""

    def __init__(self, inner: IssueTracker, rate: float, chance: random.Random) -> None:
        self._inner = inner
        self._rate = rate
        self._chance = chance

    def issue_info(self, issue_key: str) -> IssueInfo | None:
        return self._inner.issue_info(issue_key)

    def find_person(self, address: str) -> JiraPerson | None:
        return self._inner.find_person(address)

    def find_issue_by_digest(self, digest: str) -> str | None:
        return self._inner.find_issue_by_digest(digest)

    def find_comment_by_digest(self, issue_key: str, digest: str) -> str | None:
        return self._inner.find_comment_by_digest(issue_key, digest)

    def attachment_names(self, issue_key: str) -> set[tuple[str, int]]:
        return self._inner.attachment_names(issue_key)

    def attach(self, issue_key: str, attachment: MailAttachment) -> None:
        self._inner.attach(issue_key, attachment)

    def create_issue(self, draft: IssueDraft) -> str:
        key = self._inner.create_issue(draft)
        self._maybe_die()
        return key

    def add_comment(self, draft: CommentDraft) -> AddedComment:
        added = self._inner.add_comment(draft)
        self._maybe_die()
        return added

    def _maybe_die(self) -> None:
        if self._chance.random() < self._rate:
            os._exit(86)  # no cleanup, no commit: as abrupt as a killed process


def main() -> None:
    # The fake Jira's search sees a property as soon as it is written, so the worker need not
    # wait for an index after an interrupted attempt (`decide.INDEX_SETTLE`); here the
    # restart follows at once, which is the harder case for exactly-once.
    decide.INDEX_SETTLE = timedelta(0)
    runtime = Runtime.create(Settings.from_env(os.environ))
    rate = float(os.environ["CRASH_RATE"])
    chance = random.Random(int(os.environ["CRASH_SEED"]))

    def factory(rt: Runtime, tenant: Tenant) -> IssueTracker:
        return DyingTracker(jira_tracker(rt, tenant), rate, chance)

    if os.environ.get("CRASH_MODE") == "worker":
        _work(runtime, factory)
        return
    result = poll_source(
        runtime,
        int(os.environ["SOURCE_ID"]),
        owner="crash-test-worker",
        limit=int(os.environ.get("POLL_LIMIT", "25")),
        tracker_factory=factory,
    )
    print(f"poll ok={result.ok} counts={result.counts} message={result.message}", flush=True)


def _work(runtime: Runtime, factory: Callable[[Runtime, Tenant], IssueTracker]) -> None:
    logs.configure(os.environ.get("CRASH_LOG_LEVEL", "WARNING"))
    # Fetches queue a delivery job per message (connector.handoff); both may die.
    engine = QueueEngine(
        runtime,
        tracker_factory=factory,
        batch=int(os.environ.get("POLL_LIMIT", "25")),
        outbound=False,
        dispatch_every=1,
        heartbeat_seconds=1,
        stalled_seconds=3,
        lease_seconds=4,
        claim_seconds=4,
    )
    signal.signal(signal.SIGTERM, lambda *_: engine.stop())
    print(f"worker {engine.owner} started", flush=True)
    engine.run_forever()


if __name__ == "__main__":
    main()
