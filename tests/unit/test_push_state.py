"""How a source receives mail, in words; which IDLE responses mean new mail; who may idle."""

from __future__ import annotations

import pytest

from connector.push.idle_watcher import IdleWatcher
from connector.push.state import CONNECTING, IDLING, PushState, polling
from connector.sources.config import SourceConfig
from connector.sources.idle import reports_new_mail, says_bye


def test_states_read_as_the_sources_list_will_show_them() -> None:
    assert IDLING.describe() == "push (IMAP IDLE)"
    assert IDLING.pushing
    assert CONNECTING.describe() == "push (IMAP IDLE), connecting"
    assert not CONNECTING.pushing
    fallback = polling("mail.example.com does not announce IDLE (RFC 2177)")
    assert fallback.describe() == "polling: mail.example.com does not announce IDLE (RFC 2177)"
    assert PushState("polling").describe() == "polling"


@pytest.mark.parametrize(
    ("lines", "new_mail"),
    [
        ([b"* 36 EXISTS"], True),
        ([b"* OK Still here", b"* 1 RECENT\r\n"], True),
        ([b"* OK Still here"], False),
        ([b"* 3 EXPUNGE"], False),
        ([b"* 4 FETCH (FLAGS (\\Seen))"], False),
        ([b"A12 OK EXISTS is not untagged"], False),
        ([], False),
    ],
)
def test_exists_and_recent_mean_new_mail(lines: list[bytes], new_mail: bool) -> None:
    assert reports_new_mail(lines) is new_mail


def test_bye_ends_the_connection() -> None:
    assert says_bye([b"* 4 EXISTS", b"* BYE Server shutting down."])
    assert not says_bye([b"* OK Still here"])


@pytest.mark.parametrize(
    ("protocol", "settings", "reason"),
    [
        ("pop3", {"after_processing": "delete", "password": "x"}, "POP3 sources are polled"),
        (
            "graph",
            {"access_token": lambda: "t", "host": "graph.microsoft.com", "port": 443},
            "Graph sources are polled",
        ),
    ],
)
def test_only_imap_sources_idle(protocol: str, settings: dict[str, object], reason: str) -> None:
    settings.setdefault("host", "mail.example.com")
    settings.setdefault("port", 995)
    config = SourceConfig(protocol=protocol, username="support", **settings)  # type: ignore[arg-type]
    watcher = IdleWatcher(lambda _source: None)  # not started: watch() answers right away

    state = watcher.watch("source", config)

    assert state.mode == "polling"
    assert reason in state.reason
    watcher.stop()


def test_idle_is_reissued_within_29_minutes() -> None:
    with pytest.raises(ValueError, match="29 minutes"):
        IdleWatcher(lambda _source: None, reissue_after=30 * 60)
