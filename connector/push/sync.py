"""Keeps the idle watcher in step with storage, and the sources list with the watcher.

Every `every` seconds (the scheduler calls `sync` on each tick; it returns at once between
rounds): the enabled IMAP sources with `push` on, of installed and enabled tenants, are
claimed for this worker (`SourceRepository.claim_push`, so with several workers only one
idles per source); what is new or changed (saved settings, a new password) is watched anew,
what is gone, disabled, turned off or claimed by another worker is forgotten (Graph sources
are `connector.push.graph_push`'s, which writes their `receives` itself). Then the
watcher's state (`PushState.describe`) is written to the source's `receives` column where it
changed, which is what the mail sources list shows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from connector.mail_source import MailSource
from connector.polling import source_config
from connector.push.idle_watcher import IdleWatcher
from connector.push.receives import ReceivesWriter
from connector.push.state import PushState, polling
from connector.runtime import Runtime

log = logging.getLogger(__name__)

SYNC_SECONDS = 15.0


@dataclass(frozen=True)
class _Seen:
    """What the source was watched with: a change in any of these means watch it anew."""

    updated_at: object
    enabled: bool
    uses_oauth: bool


class PushSync:
    def __init__(
        self, runtime: Runtime, watcher: IdleWatcher, *, owner: str, every: float = SYNC_SECONDS
    ) -> None:
        self._runtime = runtime
        self._watcher = watcher
        self._owner = owner
        self.every = every
        self._next = 0.0
        self._seen: dict[int, _Seen] = {}
        self._receives = ReceivesWriter(runtime.sources)

    def sync(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + self.every
        sources = {s.id: s for s in self._runtime.sources.active()}
        wanting = [i for i, s in sources.items() if _may_idle(s)]
        # Claimed for three rounds, so one slow round does not hand the source to another.
        held = self._runtime.sources.claim_push(wanting, self._owner, self.every * 3)
        for source_id in list(self._seen):
            source = sources.get(source_id)
            if source is None or (source_id in wanting and source_id not in held):
                self._forget(source_id)
        for source_id, source in sources.items():
            if source.spec.protocol == "graph":  # pushed by notifications (`graph_push`)
                if source_id in self._seen:
                    self._forget(source_id)
                continue
            if source_id in wanting and source_id not in held:
                continue
            self._watch(source)
        released = [i for i in sources if i not in wanting]
        if released:
            self._runtime.sources.release_push(self._owner, released)
        self._write_states(sources)

    def start(self) -> None:
        self._watcher.start()

    def stop(self) -> None:
        self._watcher.stop()
        self._runtime.sources.release_push(self._owner)

    def _watch(self, source: MailSource) -> None:
        seen = _Seen(source.updated_at, source.enabled, source.spec.uses_oauth)
        if self._seen.get(source.id) == seen:
            return
        try:
            config = source_config(self._runtime, source)
        except Exception as exc:  # e.g. a secret that no longer decrypts: polls will say so
            self._forget(source.id)
            self._write(source.id, polling(f"cannot connect: {type(exc).__name__}"))
            return
        self._watcher.watch(str(source.id), config, push=source.spec.push, enabled=source.enabled)
        self._seen[source.id] = seen

    def _forget(self, source_id: int) -> None:
        self._watcher.forget(str(source_id))
        self._seen.pop(source_id, None)
        self._receives.forget(source_id)

    def _write_states(self, sources: dict[int, MailSource]) -> None:
        states = self._watcher.states()
        for source_id in sources:
            state = states.get(str(source_id))
            if state is not None:
                self._write(source_id, state)

    def _write(self, source_id: int, state: PushState) -> None:
        self._receives.write(source_id, state)


def _may_idle(source: MailSource) -> bool:
    return source.enabled and source.spec.push and source.spec.protocol == "imap"
