"""The sender check's plumbing: keys fetched ahead (cached, bounded), the check run with
them, and the source's trusted servers. Keys come from `tests.dkim_keys`, never DNS."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from connector.mail_source import SourcePolicy
from connector.pipeline.reading import MessageReader, reader_for
from connector.pipeline.sender_check import (
    UNAVAILABLE,
    CachedKeyLookup,
    SenderChecking,
    check_in_worker,
    check_sender,
    fetch_keys,
    trusted_servers,
)
from connector.senders.outcome import Reason, SenderAuthentication
from connector.senders.signatures import KeyLookup, KeyLookupError
from connector.senders.trusted import GMAIL, NOBODY, trusted
from connector.settings import ReadingLimits
from tests import dkim_keys
from tests.unit.source_specs import source_spec

ANN = "ann@example.com"


def test_fetched_keys_verify_a_signed_message() -> None:
    raw = dkim_keys.sign(dkim_keys.message())
    keys = fetch_keys(raw, dkim_keys.lookup)
    assert keys == {"rsa._domainkey.example.com": dkim_keys.rsa_key().record}
    result = check_sender(MessageReader(None), raw, ANN, servers=NOBODY, lookup=dkim_keys.lookup)
    assert result.verified
    assert not result.own_domain
    forged = check_in_worker(raw, ANN, frozenset(), {}, ("example.com",))
    assert not forged.verified  # no key: the signature cannot be checked
    assert forged.own_domain


def test_a_failed_lookup_is_unavailable_and_worth_a_retry() -> None:
    raw = dkim_keys.sign(dkim_keys.message())
    keys = fetch_keys(raw, dkim_keys.failing_lookup)
    assert keys == {"rsa._domainkey.example.com": UNAVAILABLE}
    result = check_in_worker(raw, ANN, frozenset(), keys, ())
    assert result.reason is Reason.KEY_UNAVAILABLE
    assert result.retryable


def test_lookups_past_the_time_limit_are_unavailable() -> None:
    raw = dkim_keys.sign(dkim_keys.message())
    assert fetch_keys(raw, dkim_keys.lookup, seconds=0) == {
        "rsa._domainkey.example.com": UNAVAILABLE
    }


def test_answers_are_cached_and_failures_are_not() -> None:
    asked: list[str] = []
    failing = True

    def lookup(name: str) -> str | None:
        asked.append(name)
        if failing:
            raise KeyLookupError("timeout")
        return "v=DKIM1; p=abc" if name.startswith("a.") else None

    cached = CachedKeyLookup(lookup)
    for _ in range(2):
        with contextlib.suppress(KeyLookupError):
            cached("a._domainkey.example.com")
    failing = False
    assert cached("a._domainkey.example.com") == "v=DKIM1; p=abc"
    assert cached("a._domainkey.example.com") == "v=DKIM1; p=abc"
    assert cached("b._domainkey.example.com") is None
    assert cached("b._domainkey.example.com") is None
    assert asked == ["a._domainkey.example.com"] * 3 + ["b._domainkey.example.com"]


def test_trusted_servers_are_the_admins_or_the_preset() -> None:
    assert trusted_servers(source_spec(provider="gmail")) == GMAIL
    assert trusted_servers(source_spec()) == trusted("imap.example.com", "example.com")
    named = source_spec(policy=SourcePolicy(trusted_authserv_ids=("mx.example.net",)))
    assert trusted_servers(named) == trusted("mx.example.net")


SIGNED: dict[str, tuple[bytes, KeyLookup]] = {
    "rsa": (dkim_keys.sign(dkim_keys.message()), dkim_keys.lookup),
    "ed25519": (
        dkim_keys.sign(dkim_keys.message(), selector="ed", key=dkim_keys.ed25519_key()),
        dkim_keys.lookup,
    ),
    "no key": (dkim_keys.sign(dkim_keys.message()), lambda name: None),
    "key unavailable": (dkim_keys.sign(dkim_keys.message()), dkim_keys.failing_lookup),
    "other domain": (dkim_keys.sign(dkim_keys.message(), domain="example.net"), dkim_keys.lookup),
    "unsigned": (dkim_keys.message(), dkim_keys.lookup),
}


@pytest.mark.parametrize("pooled", [False, True], ids=["in thread", "pool"])
@pytest.mark.parametrize("case", list(SIGNED))
def test_reading_and_checking_in_one_task_gives_the_separate_verdict(
    case: str, pooled: bool
) -> None:
    raw, lookup = SIGNED[case]
    reader = reader_for(ReadingLimits()) if pooled else MessageReader(None)
    servers, own = trusted("imap.example.com"), {"example.com"}
    checking = SenderChecking.fetch(raw, servers=servers, lookup=lookup, own_domains=own)
    understanding, verdict = reader.read_and_check(raw, checking)

    alone = reader.understand(raw)
    assert understanding == alone
    sender = alone.email.sender
    assert sender is not None and sender.address == ANN
    assert verdict == check_sender(
        reader, raw, ANN, servers=servers, lookup=lookup, own_domains=own
    )
    assert verdict is not None and verdict.verified == (case in ("rsa", "ed25519"))


def broken_check(*arguments: Any) -> SenderAuthentication:
    raise ValueError("a check that fails")


def test_a_check_that_raises_leaves_the_verdict_to_a_check_of_its_own() -> None:
    raw, lookup = SIGNED["rsa"]
    reader = MessageReader(None, check=broken_check)
    checking = SenderChecking.fetch(raw, servers=NOBODY, lookup=lookup, own_domains=())
    understanding, verdict = reader.read_and_check(raw, checking)
    assert verdict is None
    assert understanding.email.subject == "Approved, go ahead"
    with pytest.raises(ValueError, match="a check that fails"):
        reader.authenticate(checking.arguments(raw, ANN))
