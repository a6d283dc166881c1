"""IMAP IDLE against a real Dovecot: new mail is reported without a poll, dropped connections
come back, servers without IDLE fall back to polling, and one connection per source at most.

The server is this module's own (it is killed and restarted here), with a one-second
`imap_idle_notify_interval`, so an idling client hears from it every second as it would every
two minutes in production."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from connector.push.idle_watcher import IdleWatcher
from connector.push.state import DISABLED, PUSH_OFF, PushState
from connector.retry import RetryPolicy
from tests.servers.dovecot import Dovecot, MailUser, own_dovecot
from tests.servers.messages import build_message
from tests.servers.sources import dovecot_config

# A connection that drops is opened again after 1.5 s, then 3 s: time enough to deliver mail
# while nobody listens, short enough for a test.
QUICK_RECONNECT = RetryPolicy.doubling(timedelta(seconds=1.5), timedelta(seconds=3))


class Calls:
    """What `on_mail` was called with, and when; waits for a number of calls."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.calls: list[tuple[str, float]] = []

    def __call__(self, source_id: str) -> None:
        with self._lock:
            self.calls.append((source_id, time.monotonic()))
            self._lock.notify_all()

    def wait_for(self, count: int, timeout: float) -> list[tuple[str, float]]:
        with self._lock:
            self._lock.wait_for(lambda: len(self.calls) >= count, timeout)
            return list(self.calls)


@pytest.fixture(scope="module")
def idle_dovecot() -> Iterator[Dovecot]:
    with own_dovecot(idle_notify_interval="1 secs") as server:
        yield server


@pytest.fixture
def user(idle_dovecot: Dovecot) -> MailUser:
    idle_dovecot.start()  # a test that restarted it and failed must not take the rest down
    return idle_dovecot.new_user()


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def watcher(calls: Calls) -> Iterator[IdleWatcher]:
    watcher = IdleWatcher(calls, reissue_after=60, reconnect=QUICK_RECONNECT, jitter=0)
    watcher.start()
    yield watcher
    watcher.stop()


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_for_state(watcher: IdleWatcher, source_id: str, mode: str) -> PushState:
    assert wait_until(lambda: watcher.state(source_id).mode == mode), watcher.state(source_id)
    return watcher.state(source_id)


def test_mail_delivered_while_idling_is_reported_within_two_seconds(
    idle_dovecot: Dovecot, user: MailUser, watcher: IdleWatcher, calls: Calls
) -> None:
    watcher.watch("support", dovecot_config(idle_dovecot, user))
    assert wait_for_state(watcher, "support", "idle").pushing
    assert calls.calls == []  # nothing is reported before anything arrives

    delivered = time.monotonic()
    idle_dovecot.deliver(user, build_message("Printer on fire"))

    reported = calls.wait_for(1, timeout=2.0)
    assert [source for source, _ in reported] == ["support"]
    assert reported[0][1] - delivered < 2.0


@pytest.mark.parametrize("how", ["kill the imap process", "restart the server"])
def test_a_dropped_connection_comes_back_and_mail_delivered_meanwhile_is_reported(
    idle_dovecot: Dovecot, user: MailUser, watcher: IdleWatcher, calls: Calls, how: str
) -> None:
    watcher.watch("support", dovecot_config(idle_dovecot, user))
    wait_for_state(watcher, "support", "idle")
    first_pid = idle_dovecot.connections(user)

    if how == "restart the server":
        idle_dovecot.restart()
    else:
        idle_dovecot.kick(user)
    lost = wait_for_state(watcher, "support", "polling")
    assert "trying again in" in lost.reason
    idle_dovecot.deliver(user, build_message("Sent while the connection was down"))
    assert watcher.state("support").mode == "polling"  # delivered before the reconnection

    wait_for_state(watcher, "support", "idle")
    assert [source for source, _ in calls.wait_for(1, timeout=2.0)] == ["support"]
    assert idle_dovecot.connections(user) != first_pid  # a new connection, one again
    assert len(idle_dovecot.connections(user)) == 1

    idle_dovecot.deliver(user, build_message("Sent once it was back"))
    assert len(calls.wait_for(2, timeout=2.0)) == 2


def test_a_server_without_idle_is_polled_and_says_why(
    idle_dovecot: Dovecot, user: MailUser, watcher: IdleWatcher, calls: Calls
) -> None:
    config = dovecot_config(idle_dovecot, user, host=idle_dovecot.no_idle_host)
    watcher.watch("legacy", config)

    state = wait_for_state(watcher, "legacy", "polling")
    assert state.reason == f"{idle_dovecot.no_idle_host} does not announce IDLE (RFC 2177)"
    assert state.describe().startswith("polling: ")
    assert wait_until(lambda: idle_dovecot.connections(user) == [])  # it logged out
    idle_dovecot.deliver(user, build_message("Nobody is idling"))
    assert calls.wait_for(1, timeout=1.0) == []


def test_idle_is_reissued_on_the_same_connection(
    idle_dovecot: Dovecot, user: MailUser, calls: Calls
) -> None:
    watcher = IdleWatcher(calls, reissue_after=0.5, reconnect=QUICK_RECONNECT)
    watcher.start()
    try:
        watcher.watch("support", dovecot_config(idle_dovecot, user))
        wait_for_state(watcher, "support", "idle")
        pids = idle_dovecot.connections(user)

        assert wait_until(lambda: watcher.reissued("support") >= 3, timeout=4.0)
        assert idle_dovecot.connections(user) == pids  # DONE and IDLE again, no reconnection
        assert watcher.state("support").pushing
        idle_dovecot.deliver(user, build_message("After a few re-issues"))
        assert len(calls.wait_for(1, timeout=2.0)) == 1
    finally:
        watcher.stop()


def test_one_connection_per_source_whatever_is_asked(
    idle_dovecot: Dovecot, watcher: IdleWatcher
) -> None:
    users = [idle_dovecot.new_user() for _ in range(3)]
    for index, each in enumerate(users):
        watcher.watch(f"source-{index}", dovecot_config(idle_dovecot, each))
    # Saved again (an admin edits the source): the connection is replaced, not added.
    watcher.watch("source-0", dovecot_config(idle_dovecot, users[0], timeout_seconds=7))
    for index in range(3):
        wait_for_state(watcher, f"source-{index}", "idle")
    time.sleep(0.3)  # a second connection, if one were opened, would show by now

    assert [len(idle_dovecot.connections(each)) for each in users] == [1, 1, 1]


def test_disabled_sources_and_push_off_open_no_connection(
    idle_dovecot: Dovecot, user: MailUser, watcher: IdleWatcher
) -> None:
    config = dovecot_config(idle_dovecot, user)
    assert watcher.watch("off", config, push=False) == PushState("polling", PUSH_OFF)
    assert watcher.watch("disabled", config, enabled=False) == PushState("polling", DISABLED)
    time.sleep(0.5)

    assert idle_dovecot.connections(user) == []
    assert watcher.state("off").reason == PUSH_OFF


def test_turning_push_off_closes_the_connection(
    idle_dovecot: Dovecot, user: MailUser, watcher: IdleWatcher
) -> None:
    config = dovecot_config(idle_dovecot, user)
    watcher.watch("support", config)
    wait_for_state(watcher, "support", "idle")

    watcher.watch("support", config, push=False)

    assert wait_until(lambda: idle_dovecot.connections(user) == [])
    assert watcher.state("support").reason == PUSH_OFF


def test_a_refused_login_is_polled_with_the_reason(
    idle_dovecot: Dovecot, user: MailUser, watcher: IdleWatcher
) -> None:
    watcher.watch("support", dovecot_config(idle_dovecot, user, password="not-the-password"))

    state = wait_for_state(watcher, "support", "polling")
    assert "refused the login" in state.reason
    # Not tried again in seconds, which could lock the account: when the source is saved.
    assert state.reason.endswith("push is tried again when the source is saved, or in 6 hours")
    time.sleep(2.0)  # longer than the first reconnection delay
    attempts = [
        line
        for line in idle_dovecot.log_path.read_text(errors="replace").splitlines()
        if "imap-login" in line and f"user=<{user.name}>" in line and "auth failed" in line
    ]
    assert len(attempts) == 1, attempts


def test_stop_closes_every_connection(idle_dovecot: Dovecot, calls: Calls) -> None:
    users = [idle_dovecot.new_user() for _ in range(2)]
    watcher = IdleWatcher(calls)
    watcher.start()
    for index, each in enumerate(users):
        watcher.watch(f"source-{index}", dovecot_config(idle_dovecot, each))
    for index in range(2):
        wait_for_state(watcher, f"source-{index}", "idle")

    watcher.stop()

    assert wait_until(lambda: all(idle_dovecot.connections(each) == [] for each in users))
    assert {state.reason for state in watcher.states().values()} == {"push is not running"}
    assert not [t for t in threading.enumerate() if t.name.startswith("idle-")]
