"""Ending a Graph source's subscription at Microsoft Graph: when push is no longer wanted
(`GraphPush`, in the worker) and when the source is deleted (the admin API, before the row goes).

Why the delete path calls Graph itself: the subscription can only be ended with the source's
own sign-in (its OAuth tokens), and those live on the source's row. The alternative, keeping
a tombstone row with the tokens until a worker ends the subscription, would copy secrets into
a second table, need a cleanup pass, and leave a half-deleted source behind while it waits;
one DELETE with a short timeout and no retries, right before the row is removed, needs none of
that. It is best effort: when Graph cannot be reached or refuses (access taken away, Graph
down, slow), the source is deleted all the same, the failure is logged
(`push.graph_end_failed`, with the subscription id), and the subscription lapses at Graph by
itself within its lifetime (at most 4,230 minutes, `graph_api.MAX_LIFETIME`); its
notifications are answered 403 meanwhile, since the row that would accept them is gone.

A worker that holds the row's claim could, in the same moment, replace the subscription (a
resubscribe or renewal that finds it gone); that new one is then unknown to us and lapses the
same way. That window is a few seconds wide and costs nothing but refused notifications.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import httpx

from connector import logs
from connector.mail_source import MailSource
from connector.polling import source_config
from connector.push.graph_api import Subscriptions
from connector.runtime import Runtime
from connector.sources.config import SourceConfig
from connector.sources.errors import SourceError
from connector.sources.graph_http import GraphClient

log = logging.getLogger(__name__)

# An admin waits for the delete: Graph gets this long, once, before the source goes anyway.
DELETE_TIMEOUT_SECONDS = 5


def graph_config(runtime: Runtime, source: MailSource) -> SourceConfig:
    """How to reach the source's mailbox; anything that stops it is a `SourceError`."""
    try:
        return source_config(runtime, source)
    except SourceError:
        raise
    except Exception as exc:  # e.g. a secret that no longer decrypts: polls say so too
        raise SourceError(f"cannot connect: {type(exc).__name__}") from exc


def end_at_graph(
    runtime: Runtime,
    source: MailSource,
    subscription_id: str,
    *,
    http_client: httpx.Client | None = None,
    timeout_seconds: int | None = None,
) -> bool:
    """DELETE the subscription at Graph with the source's sign-in (already gone counts as
    ended). False, logged, when it could not be done: the subscription then lapses by itself.
    `timeout_seconds`: answer within this or give up, without retrying (someone waits)."""
    try:
        config = graph_config(runtime, source)
        if timeout_seconds is None:
            graph = GraphClient(config, http_client=http_client)
        else:  # the timeout applies to a client of its own (`http_client` None)
            config = replace(config, timeout_seconds=timeout_seconds)
            graph = GraphClient(config, http_client=http_client, max_retries=0)
        try:
            Subscriptions(graph).delete(subscription_id)
        finally:
            graph.close()
    except SourceError as exc:  # it lapses at Graph by itself within three days
        logs.event(
            log,
            "push.graph_end_failed",
            logging.WARNING,
            source_id=source.id,
            subscription_id=subscription_id,
            error=exc,
        )
        return False
    return True


def end_before_delete(
    runtime: Runtime, tenant_id: int, source_id: int, *, http_client: httpx.Client | None = None
) -> bool:
    """The source is about to be deleted: end its subscription at Graph, if it has one, while
    its sign-in still exists. True when one was ended; never raises for Graph's sake."""
    source = runtime.sources.get(tenant_id, source_id)
    row = runtime.graph_subscriptions.get(source_id) if source is not None else None
    if source is None or row is None or row.subscription_id is None:
        return False
    ended = end_at_graph(
        runtime,
        source,
        row.subscription_id,
        http_client=http_client,
        timeout_seconds=DELETE_TIMEOUT_SECONDS,
    )
    if ended:
        logs.event(log, "push.graph_ended", source_id=source_id, why="source deleted")
    return ended
