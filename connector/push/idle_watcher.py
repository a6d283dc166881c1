"""Keeps one IMAP connection idling per source and calls `on_mail(source_id)` on new mail.

Threads or async IO: one thread waits on the sockets of *all* idling connections with a
selector (epoll on Linux, so no limit of 1,024 descriptors), and reads a readable one without
blocking (imap-tools' `IdleManager.poll` with a zero timeout). What blocks (opening and
logging in, which can take `timeout_seconds` on a dead server; re-issuing IDLE, a round trip)
runs in a small pool of `connectors` threads, so one slow server never holds up the others'
notifications. A worker with hundreds of idling sources thus runs 1 + `connectors` threads
whatever the number of sources. Measured (`tests.benchmarks.idle_sources`, 200 sources
against one Dovecot over implicit TLS on loopback): about 40 kB of this process's memory (RSS
and PSS) per idle source, 7 threads in all, and about 1.4% of one core while IDLE is re-issued
every 20 s (a tenth of what polling the same sources once a minute costs). The TLS context is
shared by all connections with the same certificate checks: one per connection would hold the
system trust store each time, ~0.8 MB.

The rules of RFC 2177: IDLE is only sent to a server that announces it (else the source is
reported as polling, with the reason), and it is ended with `DONE` and sent again every
`reissue_after` seconds (25 minutes by default, under the 29 the RFC names). A connection that
breaks is opened again after the delays of `reconnect` (a `RetryPolicy` that never gives up)
with random jitter, so that a restarted server is not hit by every source at once; once it is
back, `on_mail` is called, since mail may have come while nobody was listening. A refused
login, a missing folder or a server without IDLE is not retried soon (a password tried again
and again can lock an account): the source is polled, and push is tried again when the
source is watched anew (saved) or after `RECHECK_SECONDS`. XOAUTH2 sources get a fresh token
at each connection (`SourceConfig.access_token`).

`on_mail` is called from the watcher's threads and must return quickly (queue the work). It
only says which source to process; the processing is the poll path's, so the cursor and the
exactly-once ledger decide what is new. A safety poll at the source's interval stays the
caller's: push can only make mail come sooner.
"""

from __future__ import annotations

import logging
import queue
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from connector.push.state import (
    CONNECTING,
    DISABLED,
    IDLING,
    NOT_IMAP,
    PUSH_OFF,
    STOPPED,
    PushState,
    polling,
)
from connector.push.waker import Waker
from connector.retry import RetryPolicy
from connector.sources.config import SourceConfig
from connector.sources.errors import (
    FolderNotFound,
    SourceAuthError,
    SourceConfigError,
    SourceError,
)
from connector.sources.idle import IdleSession, NoIdle, open_idle, reports_new_mail, says_bye
from connector.sources.tls import tls_context

log = logging.getLogger(__name__)

REISSUE_AFTER_SECONDS = 25 * 60
RECONNECT = RetryPolicy.doubling(timedelta(seconds=5), timedelta(minutes=5))
# A server without IDLE, or one that refused the login, is asked again this rarely (it may
# have been upgraded; a password may have been changed on the server's side).
RECHECK_SECONDS = 6 * 3600.0
# What trying again soon will not change: the source's settings are wrong.
_SETTLED = (SourceAuthError, SourceConfigError, FolderNotFound)
_MAX_WAIT_SECONDS = 5.0

OnMail = Callable[[str], None]


@dataclass(eq=False)
class _Watched:
    source_id: str
    config: SourceConfig
    state: PushState = CONNECTING
    session: IdleSession | None = None
    busy: bool = False  # a pool thread is using the connection; the selector leaves it alone
    failures: int = 0
    due: float = 0.0  # when to connect, or to re-issue IDLE
    connected_before: bool = False
    forgotten: bool = False
    registered: socket.socket | None = None  # kept: a closed socket no longer has its number


class IdleWatcher:
    def __init__(
        self,
        on_mail: OnMail,
        *,
        reissue_after: float = REISSUE_AFTER_SECONDS,
        reconnect: RetryPolicy = RECONNECT,
        jitter: float = 0.25,
        connectors: int = 4,
    ) -> None:
        if not 0 < reissue_after <= 29 * 60:
            raise ValueError("IDLE must be re-issued within 29 minutes (RFC 2177)")
        self._on_mail = on_mail
        self._reissue_after = reissue_after
        self._reconnect = reconnect
        self._jitter = min(max(jitter, 0.0), 1.0)
        self._random = random.Random()  # noqa: S311 (jitter, not a secret)
        self._pool = ThreadPoolExecutor(connectors, thread_name_prefix="idle-connect")
        self._selector = selectors.DefaultSelector()
        self._waker = Waker(self._selector)
        self._inbox: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._states: dict[str, PushState] = {}
        self._reissues: dict[str, int] = {}
        self._entries: dict[str, _Watched] = {}  # the loop thread's alone
        # One TLS context per kind of check, shared by all connections (~0.8 MB each).
        self._tls = {verify: tls_context(verify_tls=verify) for verify in (True, False)}
        self._thread = threading.Thread(target=self._run, name="idle-watcher", daemon=True)
        self._stopping = False

    # -- the caller's side (any thread) --------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def watch(
        self, source_id: str, config: SourceConfig, *, push: bool = True, enabled: bool = True
    ) -> PushState:
        """Idle on the source's folder from now on (replacing what was watched under that id),
        or say why it is polled instead."""
        reason = _why_not(config, push=push, enabled=enabled)
        self._post("watch", source_id, (config, reason))
        state = polling(reason) if reason else CONNECTING
        self._set_state(source_id, state)
        return state

    def forget(self, source_id: str) -> None:
        """Close the source's idle connection (deleted, disabled, push turned off)."""
        self._post("forget", source_id, None)
        with self._lock:
            self._states.pop(source_id, None)

    def state(self, source_id: str) -> PushState:
        with self._lock:
            return self._states.get(source_id, polling(STOPPED))

    def states(self) -> dict[str, PushState]:
        with self._lock:
            return dict(self._states)

    def reissued(self, source_id: str) -> int:
        """How often IDLE was ended and sent again on the source's current connection."""
        with self._lock:
            return self._reissues.get(source_id, 0)

    def stop(self, timeout: float = 10.0) -> None:
        """Close every idle connection (DONE, LOGOUT) and end the threads."""
        self._stopping = True
        self._waker.wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._handle_inbox()  # connections opened meanwhile are closed, not leaked
        for entry in self._entries.values():
            self._close(entry)
        self._selector.close()
        self._waker.close()
        with self._lock:
            self._states = {key: polling(STOPPED) for key in self._states}

    # -- the loop thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            try:
                self._turn()
            except Exception:  # a bug about one source must not end push for all of them
                log.exception("the idle watcher's loop failed; carrying on")
                time.sleep(1.0)

    def _turn(self) -> None:
        now = time.monotonic()
        wait = min((e.due for e in self._entries.values() if not e.busy), default=now + 60)
        events = self._selector.select(min(max(wait - now, 0.0), _MAX_WAIT_SECONDS))
        for key, _ in events:
            if key.data is None:
                self._waker.drain()
            else:
                self._readable(key.data)
        self._handle_inbox()
        if not self._stopping:
            self._run_due(time.monotonic())

    def _handle_inbox(self) -> None:
        while True:
            try:
                kind, source_id, payload = self._inbox.get_nowait()
            except queue.Empty:
                return
            if kind == "watch":
                self._replace(source_id, *payload)
            elif kind == "forget":
                self._drop_entry(source_id)
                with self._lock:
                    self._states.pop(source_id, None)
            elif kind == "connected":
                self._connected(*payload)
            elif kind == "reissued":
                self._reissued(*payload)

    def _replace(self, source_id: str, config: SourceConfig, reason: str) -> None:
        self._drop_entry(source_id)
        if not reason:
            self._entries[source_id] = _Watched(source_id, config, due=time.monotonic())

    def _drop_entry(self, source_id: str) -> None:
        entry = self._entries.pop(source_id, None)
        if entry is not None:
            entry.forgotten = True
            if not entry.busy:
                self._close(entry)

    def _run_due(self, now: float) -> None:
        if self._stopping:
            return
        for entry in list(self._entries.values()):
            if entry.busy or entry.due > now:
                continue
            entry.busy = True
            if entry.session is None:
                self._pool.submit(self._connect_task, entry)
            else:
                self._unregister(entry)
                self._pool.submit(self._reissue_task, entry)

    def _readable(self, entry: _Watched) -> None:
        session = entry.session
        if session is None or entry.busy:
            return
        lines = self._check(entry, session.poll_ready)
        if lines == []:
            # Readable with nothing to read: usually the end of the connection. A re-issue
            # (DONE, then IDLE) tells for sure, and costs one round trip if it is alive.
            entry.due = 0.0
            self._run_due(time.monotonic())

    def _check(self, entry: _Watched, read: Callable[[], list[bytes]]) -> list[bytes] | None:
        """Read what the server sent and act on it; None when the connection is gone."""
        try:
            lines = read()
        except SourceError as exc:
            self._lost(entry, exc)
            return None
        if says_bye(lines):
            self._lost(entry, SourceError(f"{entry.config.host} ended the connection"))
            return None
        if reports_new_mail(lines):
            self._notify(entry.source_id)
        return lines

    def _connected(self, entry: _Watched, result: IdleSession | Exception) -> None:
        entry.busy = False
        if entry.forgotten or self._stopping:
            if isinstance(result, IdleSession):
                result.close()
            return
        if isinstance(result, NoIdle):
            entry.due = time.monotonic() + RECHECK_SECONDS
            self._set_state(entry.source_id, polling(str(result)))
        elif isinstance(result, _SETTLED):
            # Trying a refused password every few minutes could lock the account: the poll
            # reports the error, and push tries again when the source is saved (`watch`).
            entry.due = time.monotonic() + RECHECK_SECONDS
            reason = f"{result}; push is tried again when the source is saved, or in 6 hours"
            self._set_state(entry.source_id, polling(reason))
        elif isinstance(result, Exception):
            self._lost(entry, result)
        else:
            entry.session, entry.failures = result, 0
            entry.due = time.monotonic() + self._reissue_after
            self._register(entry)
            with self._lock:
                self._reissues[entry.source_id] = 0
            self._set_state(entry.source_id, IDLING)
            if entry.connected_before:
                self._notify(entry.source_id)  # mail may have come while it was down
            entry.connected_before = True
            self._check(entry, result.drain)

    def _reissued(self, entry: _Watched, result: list[bytes] | Exception) -> None:
        entry.busy = False
        if entry.forgotten or self._stopping:
            self._close(entry)
            return
        if isinstance(result, Exception):
            self._lost(entry, result)
            return
        assert entry.session is not None
        entry.due = time.monotonic() + self._reissue_after
        self._register(entry)
        with self._lock:
            self._reissues[entry.source_id] = self._reissues.get(entry.source_id, 0) + 1
        if reports_new_mail(result):
            self._notify(entry.source_id)

    def _lost(self, entry: _Watched, error: Exception) -> None:
        self._unregister(entry)
        if entry.session is not None:
            entry.session.discard()
            entry.session = None
        entry.failures += 1
        delay = self._reconnect.delay(entry.failures).total_seconds()
        delay *= 1 - self._jitter * self._random.random()
        entry.due = time.monotonic() + delay
        log.info("idle connection of %s failed, again in %.1f s", entry.source_id, delay)
        self._set_state(
            entry.source_id,
            polling(f"the idle connection failed ({error}); trying again in {delay:.0f} s"),
        )

    # -- pool threads --------------------------------------------------------------------------

    def _connect_task(self, entry: _Watched) -> None:
        result: IdleSession | Exception
        try:
            result = open_idle(entry.config, self._tls[entry.config.verify_tls])
        except (SourceError, NoIdle) as exc:
            result = exc
        self._post("connected", entry.source_id, (entry, result))

    def _reissue_task(self, entry: _Watched) -> None:
        assert entry.session is not None
        result: list[bytes] | Exception
        try:
            result = entry.session.reissue()
        except SourceError as exc:
            result = exc
        self._post("reissued", entry.source_id, (entry, result))

    # -- helpers -------------------------------------------------------------------------------

    def _notify(self, source_id: str) -> None:
        try:
            self._on_mail(source_id)
        except Exception:  # one failing callback must not stop the others' notifications
            log.exception("on_mail failed for %s", source_id)

    def _close(self, entry: _Watched) -> None:
        self._unregister(entry)
        if entry.session is not None:
            entry.session.close()
            entry.session = None

    def _register(self, entry: _Watched) -> None:
        assert entry.session is not None
        entry.registered = entry.session.socket
        self._selector.register(entry.registered, selectors.EVENT_READ, entry)

    def _unregister(self, entry: _Watched) -> None:
        registered, entry.registered = entry.registered, None
        if registered is not None:
            # Found by identity even once closed (the selector searches its map then).
            self._selector.unregister(registered)

    def _set_state(self, source_id: str, state: PushState) -> None:
        with self._lock:
            self._states[source_id] = state

    def _post(self, kind: str, source_id: str, payload: Any) -> None:
        self._inbox.put((kind, source_id, payload))
        self._waker.wake()


def _why_not(config: SourceConfig, *, push: bool, enabled: bool) -> str:
    """Why the source is not to idle at all; empty when it is."""
    if not enabled:
        return DISABLED
    if not push:
        return PUSH_OFF
    if config.protocol != "imap":
        return NOT_IMAP.format(protocol="POP3" if config.protocol == "pop3" else "Graph")
    return ""
