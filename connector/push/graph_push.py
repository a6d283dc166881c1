"""Microsoft Graph change notifications for Graph sources: subscribe, renew, answer lifecycle
events, and turn notifications into polls (issue 16, item 3).

Every `every` seconds (`sync`, in a thread of its own: creating a subscription waits for
Graph to validate our URLs, which can take seconds): the enabled Graph sources with `push`
on, of installed and enabled tenants, are claimed for this worker in `graph_subscriptions`
(one worker keeps each source's subscription; a crashed one is taken over when its claim
ends). For each source held:
- no subscription yet, or Graph removed it (`subscriptionRemoved`): subscribe to `created`
  messages on the source's folder, with a random clientState (only its hash is stored) and
  the longest lifetime allowed (`graph_api.MAX_LIFETIME`), then poll the source: mail that
  came while nobody was subscribed is found by the delta query;
- half its life gone, or `reauthorizationRequired`: PATCH the expiry (renews and
  reauthorizes); a subscription Graph no longer knows is made again, and one whose renewal
  Graph refuses is replaced at the next attempt (backing off meanwhile);
- the source now reads another mailbox or folder than it was subscribed for: subscribe anew
  (remembered per worker; after a restart the stored subscription is trusted).
Subscriptions of sources no longer wanting push (disabled, push off, tenant gone) are ended
at Graph and their rows removed. A deleted source's subscription is ended by the delete path
itself, while the source can still sign in (`graph_end.end_before_delete`), and its row goes
with the source (`SourceRepository.delete`).

The web process checks each notification (`webhooks.graph`) and marks the row; the worker
takes the marks (`take_notified`, from the scheduler's loop every second or so) and calls
`on_mail(source_id)`, which polls the source through the ordinary path (lease, cursor, delta
query, exactly-once ledger): a message notified three times is still processed once, and a
`missed` event is one more poll. A safety poll still runs at the source's interval.

Where BASE_URL cannot be reached from Microsoft (loopback, a private address or name, not
https), Graph sources poll, and the sources list says why.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import httpx

from connector import logs
from connector.mail_source import MailSource
from connector.push.graph_api import MAX_LIFETIME, Subscriptions, renew_at, unreachable
from connector.push.graph_end import end_at_graph, graph_config
from connector.push.receives import ReceivesWriter
from connector.push.state import DISABLED, GRAPH_NOTIFIED, PUSH_OFF, PushState, polling
from connector.retry import RetryPolicy
from connector.runtime import Runtime
from connector.sources.config import SourceConfig
from connector.sources.errors import SourceAuthError, SourceError
from connector.sources.graph_folders import GraphFolders
from connector.sources.graph_http import GraphClient, GraphNotFound
from connector.storage.graph_subscriptions import (
    REAUTHORIZE,
    RESUBSCRIBE,
    GraphSubscription,
    client_state_hash,
)
from connector.storage.times import utc_now

log = logging.getLogger(__name__)

SYNC_SECONDS = 15.0
RETRY = RetryPolicy.doubling(timedelta(seconds=30), timedelta(minutes=30))

OnMail = Callable[[int], None]


class GraphPush:
    def __init__(
        self,
        runtime: Runtime,
        *,
        owner: str,
        on_mail: OnMail,
        base_url: str | None = None,
        every: float = SYNC_SECONDS,
        clock: Callable[[], datetime] = utc_now,
        http_client: httpx.Client | None = None,
        retry: RetryPolicy = RETRY,
    ) -> None:
        """`base_url`: where Microsoft sends notifications, BASE_URL unless given (tests
        name a public one while the app listens on loopback)."""
        self._runtime = runtime
        self._owner = owner
        self._on_mail = on_mail
        self._base_url = base_url or runtime.settings.base_url
        self.every = every
        self._clock = clock
        self._http_client = http_client
        self._retry = retry
        self._held: set[int] = set()
        self._seen: dict[int, tuple[str, ...]] = {}  # what the subscription was made for
        self._failures: dict[int, int] = {}
        self._retry_at: dict[int, float] = {}
        self._receives = ReceivesWriter(runtime.sources)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def holds_any(self) -> bool:
        return bool(self._held)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="graph-push", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop keeping subscriptions; they stay at Graph for the next owner to take over."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._runtime.graph_subscriptions.release(self._owner)
        self._held = set()

    def _run(self) -> None:
        # The first round waits one period: under `connector serve` the web server starts
        # listening after the worker, and Graph validates our URLs while we subscribe.
        while not self._stop.wait(self.every):
            try:
                self.sync()
            except Exception:  # a database hiccup must not end push; try next round
                log.exception("graph push round failed; carrying on")

    # -- the round ---------------------------------------------------------------------------

    def sync(self) -> None:
        with self._lock:  # a test may call it while the thread runs
            self._sync()

    def _sync(self) -> None:
        runtime = self._runtime
        sources = {s.id: s for s in runtime.sources.active() if s.spec.protocol == "graph"}
        why_not = unreachable(self._base_url)
        wanting = {i for i, s in sources.items() if s.enabled and s.spec.push and not why_not}
        for source_id, source in sources.items():
            if source_id not in wanting:
                if not source.enabled:
                    self._write(source_id, polling(DISABLED))
                else:
                    self._write(source_id, polling(why_not if source.spec.push else PUSH_OFF))
        held = runtime.graph_subscriptions.claim(wanting, self._owner, self.every * 3)
        self._held = held
        self._receives.retain(held | (sources.keys() - wanting))  # the others' are not ours
        rows = {row.source_id: row for row in runtime.graph_subscriptions.all()}
        ending = {i for i in rows if i not in wanting}
        for source_id in runtime.graph_subscriptions.claim(ending, self._owner, self.every * 3):
            self._end(source_id, rows[source_id])
        for source_id in sorted(held):
            row = rows.get(source_id) or runtime.graph_subscriptions.get(source_id)
            if row is not None:
                self._keep(sources[source_id], row)

    def take_notified(self) -> list[int]:
        """Poll the sources whose notifications came since the last call; returns their ids."""
        if not self._held:
            return []
        taken = self._runtime.graph_subscriptions.take_notified(self._owner)
        for source_id in taken:
            logs.event(log, "push.graph_notified", source_id=source_id)
            self._notify(source_id)
        return taken

    def _keep(self, source: MailSource, row: GraphSubscription) -> None:
        if time.monotonic() < self._retry_at.get(source.id, 0.0):
            return
        try:
            if row.subscription_id is None or row.pending == RESUBSCRIBE:
                self._subscribe(source, row, "removed" if row.pending else "new")
            elif self._seen.setdefault(source.id, _watched(source)) != _watched(source):
                self._subscribe(source, row, "another mailbox or folder")
            elif row.pending == REAUTHORIZE or (row.renew_at and self._clock() >= row.renew_at):
                self._renew(source, row)
            else:
                self._write(source.id, GRAPH_NOTIFIED)
        except SourceError as exc:
            failures = self._failures.get(source.id, 0) + 1
            self._failures[source.id] = failures
            delay = self._retry.delay(failures).total_seconds()
            self._retry_at[source.id] = time.monotonic() + delay
            logs.event(
                log, "push.graph_failed", logging.WARNING, source_id=source.id, error=str(exc)
            )
            reason = f"Graph notifications could not be set up ({exc}); again in {delay:.0f} s"
            self._write(source.id, polling(reason))
            return
        self._failures.pop(source.id, None)
        self._retry_at.pop(source.id, None)

    def _subscribe(self, source: MailSource, row: GraphSubscription, why: str) -> None:
        config = self._config(source)
        graph = GraphClient(config, http_client=self._http_client)
        try:
            api = Subscriptions(graph)
            if row.subscription_id is not None:  # removed, refused, or for another folder
                try:
                    api.delete(row.subscription_id)
                except SourceError as exc:  # it lapses at Graph by itself within three days
                    logs.event(log, "push.graph_end_failed", source_id=source.id, error=exc)
                self._runtime.graph_subscriptions.unsubscribed(source.id)
            folder_id = GraphFolders(graph, config).folder_id(config.folder)
            client_state = secrets.token_urlsafe(48)  # 64 characters; Graph allows 128
            now = self._clock()
            granted = api.create(
                resource=api.resource(folder_id),
                base_url=self._base_url,
                client_state=client_state,
                expires_at=now + MAX_LIFETIME,
            )
        finally:
            graph.close()
        self._runtime.graph_subscriptions.subscribed(
            source.id,
            subscription_id=granted.subscription_id,
            client_state_hash=client_state_hash(client_state),
            expires_at=granted.expires_at,
            renew_at=renew_at(now, granted.expires_at),
        )
        self._seen[source.id] = _watched(source)
        logs.event(log, "push.graph_subscribed", source_id=source.id, why=why)
        self._write(source.id, GRAPH_NOTIFIED)
        # Mail that came while nobody was subscribed: the delta query finds it.
        self._notify(source.id)

    def _renew(self, source: MailSource, row: GraphSubscription) -> None:
        assert row.subscription_id is not None
        graph = GraphClient(self._config(source), http_client=self._http_client)
        now = self._clock()
        try:
            granted = Subscriptions(graph).renew(row.subscription_id, now + MAX_LIFETIME)
        except GraphNotFound:  # expired or removed meanwhile: make a new one
            self._runtime.graph_subscriptions.unsubscribed(source.id)
            self._subscribe(source, replace(row, subscription_id=None), "gone")
            return
        except SourceAuthError:
            # Refused: the source may sign in with another app registration than the one
            # that made the subscription, or access was taken away. The next attempt makes a
            # new subscription, which works once access is back.
            self._runtime.graph_subscriptions.mark(row.subscription_id, pending=RESUBSCRIBE)
            raise
        finally:
            graph.close()
        self._runtime.graph_subscriptions.renewed(
            source.id, expires_at=granted.expires_at, renew_at=renew_at(now, granted.expires_at)
        )
        logs.event(
            log, "push.graph_renewed", source_id=source.id, reauthorized=row.pending == REAUTHORIZE
        )
        self._write(source.id, GRAPH_NOTIFIED)

    def _end(self, source_id: int, row: GraphSubscription) -> None:
        """Push no longer wanted: end the subscription at Graph (if the source can still
        sign in) and forget it."""
        source = self._runtime.sources.find(source_id)
        if row.subscription_id is not None and source is not None:
            end_at_graph(self._runtime, source, row.subscription_id, http_client=self._http_client)
        self._runtime.graph_subscriptions.remove(source_id)
        self._seen.pop(source_id, None)
        logs.event(log, "push.graph_ended", source_id=source_id)

    # -- helpers -----------------------------------------------------------------------------

    def _config(self, source: MailSource) -> SourceConfig:
        return graph_config(self._runtime, source)

    def _notify(self, source_id: int) -> None:
        try:
            self._on_mail(source_id)
        except Exception:  # one failing callback must not stop the others
            log.exception("on_mail failed for %s", source_id)

    def _write(self, source_id: int, state: PushState) -> None:
        self._receives.write(source_id, state)


def _watched(source: MailSource) -> tuple[str, ...]:
    """What a subscription is for: another of these needs another subscription. Not
    `updated_at`, which every renewed OAuth token changes (hourly for Microsoft)."""
    spec = source.spec
    return (spec.host.lower(), spec.username.lower(), spec.folder)
