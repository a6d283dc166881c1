"""The email-log queries every message makes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from connector.outcomes import Outcome
from connector.storage.times import utc_now
from tests.integration.pipeline_support import support_source


def test_begin_is_once_per_position_and_counts_attempts(
    migrated_engine: Engine, encryption_key: str
) -> None:
    support = support_source(migrated_engine, encryption_key, "jira:log-begin")
    log, source = support.email_log, support.source
    first = log.begin(support.tenant_id, source.id, "uid-1", size=1200)
    assert (first.outcome, first.attempts, first.size, first.trail) == (
        Outcome.PENDING,
        0,
        1200,
        (),
    )
    assert log.begin(support.tenant_id, source.id, "uid-1", size=1200).id == first.id
    assert log.begin(support.tenant_id, source.id, "uid-2", size=10).id != first.id
    assert [log.start_attempt(first.id) for _ in range(3)] == [1, 2, 3]
    again = log.get(support.tenant_id, first.id)
    assert again is not None and again.attempts == 3 and again.next_attempt_at is None


def test_count_from_sender_counts_mail_that_reached_jira_within_the_window(
    migrated_engine: Engine, encryption_key: str
) -> None:
    support = support_source(migrated_engine, encryption_key, "jira:log-count")
    log, source = support.email_log, support.source
    outcomes = [Outcome.CREATED, Outcome.COMMENTED, Outcome.IGNORED, Outcome.FAILED]
    for number, outcome in enumerate(outcomes):
        entry = log.begin(support.tenant_id, source.id, f"uid-{number}", size=1)
        log.describe(
            entry.id,
            message_id=None,
            digest=f"d{number}",
            sender="ann@example.com",
            sender_name="Ann",
            subject="Hi",
            headers=[],
            raw=None,
        )
        log.finish(entry.id, outcome, "done")
    hour_ago = utc_now() - timedelta(hours=1)
    assert log.count_from_sender(support.tenant_id, "ann@example.com", hour_ago) == 2
    assert log.count_from_sender(support.tenant_id, "bob@example.com", hour_ago) == 0
    assert log.count_from_sender(support.tenant_id + 1, "ann@example.com", hour_ago) == 0
    later = utc_now() + timedelta(minutes=1)
    assert log.count_from_sender(support.tenant_id, "ann@example.com", later) == 0
