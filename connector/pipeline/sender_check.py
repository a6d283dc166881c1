"""Sender authentication (issue 15) on the inbound path: the verdict for one message.

The DKIM keys the message names are fetched first, where the network is at hand (DNS in
production through `CachedKeyLookup`, a table in tests); the check itself then runs in a
reader worker within a time budget, so hostile signatures cannot hold up the pipeline. The
pipeline runs it in the same task as the reading (`MessageReader.read_and_check`), others on
its own (`MessageReader.authenticate`). Mail the check cannot finish is simply not verified.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connector.mail_source import SourceSpec
from connector.senders.outcome import Reason, SenderAuthentication
from connector.senders.signatures import KeyLookup, KeyLookupError
from connector.senders.trusted import TrustedServers, for_provider, trusted
from connector.senders.verify import authenticate_sender, dkim_key_names

if TYPE_CHECKING:  # reading runs `check_in_worker`: imported for the type alone
    from connector.pipeline.reading import MessageReader

# All of one message's key lookups together; a slow resolver makes the rest "unavailable".
LOOKUPS_SECONDS = 10.0
CACHE_SECONDS = 3600.0
CACHE_ENTRIES = 1000
# Stands in the fetched table for a key that could not be fetched (worth a retry later).
UNAVAILABLE = "\0unavailable"


@dataclass
class CachedKeyLookup:
    """A `KeyLookup` that remembers answers (keys and "no key") for an hour, per process.
    Failures are not remembered: the next message asks again."""

    lookup: KeyLookup
    seconds: float = CACHE_SECONDS
    entries: int = CACHE_ENTRIES
    _cache: dict[str, tuple[float, str | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, name: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        record = self.lookup(name)
        with self._lock:
            if len(self._cache) >= self.entries:
                self._cache.clear()
            self._cache[name] = (now, record)
        return record


def no_keys(name: str) -> str | None:
    """A `KeyLookup` that finds no key: a pipeline built without a resolver verifies no
    DKIM signature (the app passes `Runtime.key_lookup`)."""
    return None


def fetch_keys(
    raw: bytes, lookup: KeyLookup, *, seconds: float = LOOKUPS_SECONDS
) -> dict[str, str | None]:
    """The records of the keys `raw`'s signatures name; `UNAVAILABLE` where the lookup
    failed or the time for all of them ran out."""
    deadline = time.monotonic() + seconds
    found: dict[str, str | None] = {}
    for name in dkim_key_names(raw):
        if time.monotonic() >= deadline:
            found[name] = UNAVAILABLE
            continue
        try:
            found[name] = lookup(name)
        except KeyLookupError:
            found[name] = UNAVAILABLE
    return found


@dataclass(frozen=True)
class _Fetched:
    """The fetched keys as a `KeyLookup` that pickles (it runs in a reader worker)."""

    keys: Mapping[str, str | None]

    def __call__(self, name: str) -> str | None:
        record = self.keys.get(name)
        if record == UNAVAILABLE:
            raise KeyLookupError(f"the lookup of {name} failed")
        return record


@dataclass(frozen=True)
class SenderChecking:
    """What the check of one message's sender needs besides the sender: the source's trusted
    servers and own domains, and the keys the message's signatures name, fetched beforehand.
    It pickles, so a reader worker can take it along with the message."""

    trusted_ids: frozenset[str]
    keys: Mapping[str, str | None]
    own_domains: tuple[str, ...]

    @classmethod
    def fetch(
        cls, raw: bytes, *, servers: TrustedServers, lookup: KeyLookup, own_domains: Collection[str]
    ) -> SenderChecking:
        """The keys are fetched here, with `lookup` (DNS in production)."""
        return cls(servers.authserv_ids, fetch_keys(raw, lookup), tuple(sorted(own_domains)))

    def arguments(self, raw: bytes, sender: str | None) -> tuple[Any, ...]:
        """`check_in_worker`'s arguments for `raw` sent by `sender`."""
        return (raw, sender, self.trusted_ids, self.keys, self.own_domains)


def check_in_worker(
    raw: bytes,
    sender: str | None,
    trusted_ids: frozenset[str],
    keys: Mapping[str, str | None],
    own_domains: tuple[str, ...],
) -> SenderAuthentication:
    """`authenticate_sender` with fetched keys: module level, so a worker can run it."""
    return authenticate_sender(
        raw,
        sender,
        trusted=TrustedServers(trusted_ids),
        lookup_key=_Fetched(keys),
        own_domains=own_domains,
    )


def trusted_servers(spec: SourceSpec) -> TrustedServers:
    """The ids the source's admin named, or the preset for its provider or mailbox host."""
    ids = spec.policy.trusted_authserv_ids
    return trusted(*ids) if ids else for_provider(spec.provider, spec.host)


def not_checked(why: str) -> SenderAuthentication:
    """The verdict on mail whose check could not run (over its budget): not verified."""
    return SenderAuthentication(False, None, reason=Reason.UNREADABLE_HEADERS, detail=why)


def offline(name: str) -> str | None:
    """A `KeyLookup` for previews without the network: every key is unavailable."""
    raise KeyLookupError(f"{name} was not looked up (offline)")


def check_sender(
    reader: MessageReader,
    raw: bytes,
    sender: str | None,
    *,
    servers: TrustedServers,
    lookup: KeyLookup,
    own_domains: Collection[str] = (),
    tenant: object | None = None,
) -> SenderAuthentication:
    """The verdict on `raw`'s sender: keys fetched here, the check in a reader worker."""
    checking = SenderChecking.fetch(raw, servers=servers, lookup=lookup, own_domains=own_domains)
    return reader.authenticate(checking.arguments(raw, sender), tenant=tenant)
