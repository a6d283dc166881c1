"""The hostile-mail corpus (tests/hostile.py) through the pipeline against Dovecot.

Every family is delivered to a real mailbox and polled with the app's own reader and default
budget, while another thread keeps asking the running app's `/healthz`. Each message ends
with one final email-log row and one issue (read within the budget, or as the stand-in that
says why, with the original attached), and `/healthz` answers within a second throughout.
"""

from __future__ import annotations

import re
import time

from connector.pipeline.reading import ORIGINAL_FILENAME
from connector.wiring import poll_source
from tests import hostile
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.integration.mailbox_support import (
    assert_answered_promptly,
    enabled_source,
    healthz_watched,
)
from tests.servers.dovecot import Dovecot, MailUser

# The 25 MB families at 8 MB: the same shape, and a mailbox test need not move 50 MB.
SIZED: dict[hostile.Family, hostile.Family] = {
    hostile.high_bytes: lambda: hostile.high_bytes(8 * hostile.MB),
    hostile.broken_base64: lambda: hostile.broken_base64(8 * hostile.MB),
}


def _corpus() -> dict[str, bytes]:
    messages: dict[str, bytes] = {}
    for family in hostile.FAMILIES:
        name, raw = SIZED.get(family, family)()
        # One Message-ID and subject each, or all but the first would be duplicates.
        raw = raw.replace(b"<hostile@example.org>", f"<{name}@example.org>".encode(), 1)
        raw = re.sub(rb"(?m)^Subject: [^\n]*", f"Subject: Hostile {name}".encode(), raw, count=1)
        messages[name] = raw
    return messages


def test_hostile_corpus_through_pipeline_each_ends_once_and_healthz_answers(
    running_app: RunningApp, fake_jira: FakeJira, dovecot: Dovecot, mail_user: MailUser
) -> None:
    tenant_id, source_id = enabled_source(running_app, fake_jira, dovecot, mail_user)
    runtime = running_app.runtime
    corpus = _corpus()
    dovecot.deliver_files(mail_user, list(corpus.values()))
    started = time.monotonic()
    with healthz_watched(running_app.base_url) as latencies:
        result = poll_source(runtime, source_id, owner="test")
    elapsed = time.monotonic() - started
    assert result.ok, result.message

    entries = {e.subject: e for e in runtime.email_log.search(tenant_id, limit=100)}
    print(f"\nhostile corpus: {len(corpus)} messages in {elapsed:.1f} s")
    for name in corpus:
        entry = entries[f"Hostile {name}"]
        print(f"  {name:24} {entry.outcome:9} {entry.reason[:90]}")
        assert entry.outcome == "created", (name, entry.reason)
        issue = fake_jira.issue(str(entry.issue_key))
        assert issue is not None, name
        files = [a["filename"] for a in issue["fields"]["attachment"]]
        assert len(files) <= 101, name  # the attachment limit, plus the original
        if "to read" in entry.reason:  # over budget: the stand-in keeps the original
            assert ORIGINAL_FILENAME in files, name
    assert result.counts == {"created": len(corpus)}

    bidi = fake_jira.issue(str(entries["Hostile bidi-names"].issue_key))
    assert bidi is not None
    for attachment in bidi["fields"]["attachment"]:
        name = attachment["filename"]
        assert not any(ch in name for ch in "\u202e\u202d\u200f\u200e\u2066\u2067"), name
        assert len(name.encode("utf-8")) <= 255

    print(f"  /healthz: {len(latencies)} answers, slowest {max(latencies) * 1000:.0f} ms")
    assert_answered_promptly(latencies)
