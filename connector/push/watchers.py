"""The push watchers a worker runs, whichever engine it uses (`connector.scheduler` on SQLite,
`connector.engine.queue` on PostgreSQL): IMAP IDLE connections (`PushSync` with an
`IdleWatcher`) and Microsoft Graph subscriptions (`GraphPush`) of the sources this worker
holds. Both announce new mail through `on_mail(source_id)`; the engine polls the source."""

from __future__ import annotations

from collections.abc import Callable

from connector.push.graph_push import GraphPush
from connector.push.idle_watcher import IdleWatcher
from connector.push.sync import SYNC_SECONDS, PushSync
from connector.runtime import Runtime

# How often the marks of Graph notifications (written by the web process) are taken while
# this worker holds a Graph subscription.
GRAPH_CHECK_SECONDS = 1.0


class PushWatchers:
    def __init__(
        self,
        runtime: Runtime,
        *,
        owner: str,
        on_mail: Callable[[int], None],
        every: float = SYNC_SECONDS,
        graph_base_url: str | None = None,
    ) -> None:
        """`graph_base_url`: where Microsoft Graph sends notifications, BASE_URL unless given
        (tests name a public one while the app listens on loopback)."""
        watcher = IdleWatcher(on_mail=lambda source_id: on_mail(int(source_id)))
        self.idle = PushSync(runtime, watcher, owner=owner, every=every)
        self.graph = GraphPush(
            runtime, owner=owner, on_mail=on_mail, base_url=graph_base_url, every=every
        )

    def start(self) -> None:
        self.idle.start()
        self.graph.start()

    def stop(self) -> None:
        self.graph.stop()
        self.idle.stop()

    def step(self) -> None:
        """Keep the IDLE watch list in step with storage (`PushSync.sync` does so at most
        every `every` seconds) and take the Graph notifications marked since the last step
        (each calls `on_mail`)."""
        self.idle.sync()
        self.graph.take_notified()

    def wait(self) -> float:
        """The longest the engine may wait before its next `step`."""
        return GRAPH_CHECK_SECONDS if self.graph.holds_any else self.idle.every
