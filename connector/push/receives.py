"""Writes how a source receives mail to its `receives` column (what the sources list shows),
only when the words changed, so an unchanged state costs no write."""

from __future__ import annotations

import logging
from collections.abc import Collection

from connector import logs
from connector.push.state import PushState
from connector.storage.sources import SourceRepository

log = logging.getLogger(__name__)


class ReceivesWriter:
    def __init__(self, sources: SourceRepository) -> None:
        self._sources = sources
        self._written: dict[int, str] = {}

    def write(self, source_id: int, state: PushState) -> None:
        text = state.describe()
        if self._written.get(source_id) == text:
            return
        self._sources.set_receives(source_id, text)
        self._written[source_id] = text
        logs.event(log, "push.state", source_id=source_id, receives=text)

    def forget(self, source_id: int) -> None:
        """Write the next state whatever it is (another writer may have changed it)."""
        self._written.pop(source_id, None)

    def retain(self, source_ids: Collection[int]) -> None:
        """Forget the others (deleted, or now written by another writer)."""
        for source_id in set(self._written) - set(source_ids):
            del self._written[source_id]
