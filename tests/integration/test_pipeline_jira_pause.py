"""A pause Jira asked for (`JiraWaiting`: the call was never sent) postpones a message until the
pause ends, however many times: it never uses up the message's attempts and quarantines it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from connector.drafts import AddedComment, CommentDraft, IssueDraft, IssueInfo, JiraPerson
from connector.jira.errors import JiraWaiting
from connector.mail.inbound import MailAttachment
from connector.pipeline.process import Pipeline
from connector.retry import INBOUND_MAIL
from connector.storage.threads import ParticipantRepository, ThreadRepository
from tests.integration.pipeline_support import support_source
from tests.servers.messages import build_message

PAUSE_SECONDS = 1800.0


class PausedJira:
    """Jira as the pipeline sees it while the app's hourly quota is spent, then open again."""

    def __init__(self) -> None:
        self.paused = True
        self.created: list[str] = []

    def _wait(self) -> None:
        if self.paused:
            raise JiraWaiting(
                None, ["Jira asked us to wait until 14:00 UTC"], retry_after=PAUSE_SECONDS
            )

    def issue_info(self, issue_key: str) -> IssueInfo | None:
        self._wait()
        return None

    def find_person(self, address: str) -> JiraPerson | None:
        self._wait()
        return None

    def find_issue_by_digest(self, digest: str) -> str | None:
        self._wait()
        return None

    def find_comment_by_digest(self, issue_key: str, digest: str) -> str | None:
        self._wait()
        return None

    def create_issue(self, draft: IssueDraft) -> str:
        self._wait()
        self.created.append(draft.summary)
        return f"SUP-{len(self.created)}"

    def add_comment(self, draft: CommentDraft) -> AddedComment:
        raise AssertionError("a new message is not a comment")

    def attachment_names(self, issue_key: str) -> set[tuple[str, int]]:
        return set()

    def attach(self, issue_key: str, attachment: MailAttachment) -> None:
        self._wait()


def test_a_long_jira_pause_postpones_without_using_up_attempts(
    migrated_engine: Engine, encryption_key: str
) -> None:
    support = support_source(migrated_engine, encryption_key, "jira:pause")
    tenant_id, source, email_log = support.tenant_id, support.source, support.email_log
    raw = build_message("quota day", message_id="<pause@customer.example>")
    entry = email_log.begin(tenant_id, source.id, "uid-1", size=len(raw))
    now = [datetime(2026, 12, 6, 12, 0, tzinfo=entry.received_at.tzinfo)]
    jira = PausedJira()
    pipeline = Pipeline(
        tracker=jira,
        email_log=email_log,
        threads=ThreadRepository(migrated_engine),
        participants=ParticipantRepository(migrated_engine),
        clock=lambda: now[0],
    )

    assert INBOUND_MAIL.attempts is not None
    current = entry
    for _ in range(INBOUND_MAIL.attempts + 2):  # more pauses than the message has attempts
        result = pipeline.process(source, current, raw)
        assert result.outcome == "pending", result.reason
        assert result.retry_at == now[0] + timedelta(seconds=PAUSE_SECONDS)
        assert "Jira asked us to wait until 14:00 UTC" in result.reason
        assert result.retry_at is not None
        now[0] = result.retry_at + timedelta(seconds=1)
        reread = email_log.get(tenant_id, entry.id)
        assert reread is not None
        current = reread

    jira.paused = False
    done = pipeline.process(source, current, raw)
    assert (done.outcome, done.issue_key) == ("created", "SUP-1")
    assert jira.created == ["quota day"]
