"""After an interrupted attempt the pipeline waits for Jira's search index before it looks
for what that attempt may have created (`pipeline.INDEX_SETTLE`): a lookup too soon after a
crash could miss the issue and make a second one."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from connector.drafts import AddedComment, CommentDraft, IssueDraft, IssueInfo, JiraPerson
from connector.mail.inbound import MailAttachment
from connector.pipeline.decide import INDEX_SETTLE
from connector.pipeline.process import Pipeline
from connector.storage.threads import ParticipantRepository, ThreadRepository
from tests.integration.pipeline_support import support_source
from tests.servers.messages import build_message


class RecordingTracker:
    """Jira as the pipeline sees it: the first attempt created KEY-1 before the crash."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def issue_info(self, issue_key: str) -> IssueInfo | None:
        return None

    def find_person(self, address: str) -> JiraPerson | None:
        self.calls.append("find_person")
        return None

    def find_issue_by_digest(self, digest: str) -> str | None:
        self.calls.append("find_issue_by_digest")
        return "SUP-1"

    def find_comment_by_digest(self, issue_key: str, digest: str) -> str | None:
        return None

    def create_issue(self, draft: IssueDraft) -> str:
        self.calls.append("create_issue")
        return "SUP-2"

    def add_comment(self, draft: CommentDraft) -> AddedComment:
        raise AssertionError("no comment expected")

    def attachment_names(self, issue_key: str) -> set[tuple[str, int]]:
        return set()

    def attach(self, issue_key: str, attachment: MailAttachment) -> None:
        raise AssertionError("no attachment expected")


def test_interrupted_attempt_waits_for_the_index_then_finds_the_issue(
    migrated_engine: Engine, encryption_key: str
) -> None:
    support = support_source(migrated_engine, encryption_key, "jira:settle")
    tenant_id, source, email_log = support.tenant_id, support.source, support.email_log
    raw = build_message("printer on fire", message_id="<settle@customer.example>")

    # The first attempt got as far as describing the message (and maybe calling Jira).
    entry = email_log.begin(tenant_id, source.id, "uid-1", size=len(raw))
    email_log.start_attempt(entry.id)
    email_log.describe(
        entry.id,
        message_id="<settle@customer.example>",
        digest="d" * 64,
        sender="customer@example.com",
        sender_name="",
        subject="printer on fire",
        headers=[],
        raw=raw,
    )
    interrupted = email_log.get(tenant_id, entry.id)
    assert interrupted is not None
    now = [interrupted.updated_at + timedelta(seconds=5)]
    tracker = RecordingTracker()
    pipeline = Pipeline(
        tracker=tracker,
        email_log=email_log,
        threads=ThreadRepository(migrated_engine),
        participants=ParticipantRepository(migrated_engine),
        clock=lambda: now[0],
    )

    waiting = pipeline.process(source, interrupted, raw)
    assert waiting.outcome == "pending"
    assert waiting.retry_at == interrupted.updated_at + INDEX_SETTLE
    assert tracker.calls == []  # Jira was not asked before its index could answer
    postponed = email_log.get(tenant_id, entry.id)
    assert postponed is not None and postponed.next_attempt_at == waiting.retry_at
    assert postponed.attempts == 1  # waiting is not an attempt

    now[0] = _after(waiting.retry_at)
    done = pipeline.process(source, postponed, raw)
    assert (done.outcome, done.issue_key) == ("created", "SUP-1")
    assert "create_issue" not in tracker.calls
    assert "find_issue_by_digest" in tracker.calls


def _after(moment: datetime | None) -> datetime:
    assert moment is not None
    return moment + timedelta(seconds=1)
