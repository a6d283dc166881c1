"""Where Microsoft Graph can send notifications, when a subscription is renewed, and what of
Graph's answer to a subscription request is trusted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.push.graph_api import MAX_LIFETIME, parse_granted, renew_at, unreachable
from connector.sources.errors import SourceError
from connector.storage.graph_subscriptions import GraphSubscription, client_state_hash


@pytest.mark.parametrize(
    ("base_url", "why"),
    [
        ("http://localhost:8000", "(a loopback address)"),
        ("https://127.0.0.1", "(a loopback address)"),
        ("https://[::1]:8443", "(a loopback address)"),
        ("https://10.1.2.3", "(a private address)"),
        ("https://192.168.0.10/connector", "(a private address)"),
        ("https://connector", "(a local host name)"),
        ("https://connector.internal", "(a local host name)"),
        ("https://mail.local", "(a local host name)"),
        ("http://connector.example.com", "is not https"),
    ],
)
def test_bases_microsoft_cannot_reach_say_why(base_url: str, why: str) -> None:
    reason = unreachable(base_url)
    assert base_url in reason and why in reason


@pytest.mark.parametrize(
    "base_url", ["https://connector.example.com", "https://jira-mail.example.org/app"]
)
def test_public_https_bases_are_reachable(base_url: str) -> None:
    assert unreachable(base_url) == ""


def test_renewal_comes_at_half_the_granted_life() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert renew_at(now, now + MAX_LIFETIME) == now + timedelta(minutes=2115)
    assert renew_at(now, now + timedelta(hours=1)) == now + timedelta(minutes=30)
    assert renew_at(now, now - timedelta(minutes=5)) == now  # already late: at once
    assert timedelta(minutes=4230) == MAX_LIFETIME


def test_graphs_answer_needs_an_id_and_an_expiry() -> None:
    granted = parse_granted(
        {
            "id": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
            "expirationDateTime": "2026-12-08T10:01:02.1234567Z",
        },
        "subscribe",
    )
    assert granted.expires_at == datetime(2026, 12, 8, 10, 1, 2, 123456, tzinfo=UTC)
    for answer in ({"expirationDateTime": "2026-12-08T10:00:00Z"}, {"id": "x"}, ["x"]):
        with pytest.raises(SourceError):
            parse_granted(answer, "subscribe")


def test_client_state_is_compared_as_a_hash() -> None:
    subscription = GraphSubscription(
        source_id=1,
        subscription_id="s",
        client_state_hash=client_state_hash("the-secret"),
        expires_at=None,
        renew_at=None,
        pending="",
        notified_at=None,
        owner=None,
    )
    assert subscription.accepts("the-secret")
    assert not subscription.accepts("the-secreT")
    assert not subscription.accepts(None)
    assert not subscription.accepts(["the-secret"])
    unsubscribed = GraphSubscription(1, None, "", None, None, "", None, None)
    assert not unsubscribed.accepts("")
