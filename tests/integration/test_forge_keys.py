"""Forge Invocation Token keys: a JWKS on loopback, fetched and cached (connector/forge/jwks.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector.forge.invocation import InvocationError, read_header, verify_invocation_token
from connector.forge.jwks import ForgeKeyStore
from tests.fakes.forge import APP_ID, CLOUD_ID, INSTALLATION_ID, FakeForge
from tests.loops import run_isolated


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    with FakeForge() as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _store(forge: FakeForge, clock: Clock, **kwargs: Any) -> ForgeKeyStore:
    return ForgeKeyStore(forge.jwks_url, clock=clock, **kwargs)


def _verify(store: ForgeKeyStore, token: str) -> str:
    header = read_header(token)
    key = run_isolated(store.public_key(header.kid, staging=header.staging))
    return verify_invocation_token(token, key, app_id=APP_ID).installation_id


def _refusal(store: ForgeKeyStore, kid: str) -> InvocationError:
    with pytest.raises(InvocationError) as caught:
        run_isolated(store.public_key(kid))
    return caught.value


def test_forge_keys_second_token_uses_cached_keys(forge: FakeForge, clock: Clock) -> None:
    store = _store(forge, clock)
    assert _verify(store, forge.token()) == INSTALLATION_ID
    clock.now += 600
    assert _verify(store, forge.token()) == INSTALLATION_ID
    assert forge.fetches == 1


def test_forge_keys_rotated_key_makes_one_refetch(forge: FakeForge, clock: Clock) -> None:
    store = _store(forge, clock, refetch_interval_seconds=60)
    assert _verify(store, forge.token()) == INSTALLATION_ID
    forge.rotate()
    clock.now += 61
    assert _verify(store, forge.token()) == INSTALLATION_ID
    assert _verify(store, forge.token()) == INSTALLATION_ID
    assert forge.fetches == 2


def test_forge_keys_unknown_kid_refetches_at_most_once_per_interval(
    forge: FakeForge, clock: Clock
) -> None:
    store = _store(forge, clock, refetch_interval_seconds=60)
    assert _verify(store, forge.token()) == INSTALLATION_ID
    # Within the interval: refused from the cache, nothing fetched.
    refusal = _refusal(store, "made-up-kid")
    assert refusal.status == 401 and "unknown key" in str(refusal)
    assert forge.fetches == 1
    # After it: one refetch, still unknown; made-up kids right after fetch nothing more.
    clock.now += 61
    assert "unknown key" in str(_refusal(store, "made-up-kid"))
    for index in range(5):
        assert _refusal(store, f"made-up-{index}").status == 401
    assert forge.fetches == 2


def test_forge_keys_expire_after_max_age(forge: FakeForge, clock: Clock) -> None:
    store = _store(forge, clock, max_age_seconds=3600)
    assert _verify(store, forge.token()) == INSTALLATION_ID
    clock.now += 3601
    assert _verify(store, forge.token()) == INSTALLATION_ID
    assert forge.fetches == 2


def test_forge_keys_staging_installation_uses_staging_jwks(clock: Clock) -> None:
    with FakeForge() as production, FakeForge() as staging:
        store = ForgeKeyStore(production.jwks_url, staging_jwks_url=staging.jwks_url, clock=clock)
        app = {
            **staging.claims()["app"],
            "apiBaseUrl": f"https://api.stg.atlassian.com/ex/jira/{CLOUD_ID}",
        }
        assert _verify(store, staging.token(staging.claims(app=app))) == INSTALLATION_ID
        assert (staging.fetches, production.fetches) == (1, 0)
        # A production token signed by the staging key is not trusted.
        with pytest.raises(InvocationError, match="unknown key"):
            _verify(store, staging.token())
        assert production.fetches == 1


def test_forge_keys_unreachable_jwks_is_503_not_401(clock: Clock) -> None:
    store = ForgeKeyStore("http://127.0.0.1:9/.well-known/jwks.json", clock=clock)
    refusal = _refusal(store, "any-kid")
    assert refusal.status == 503
    assert "unreachable" in str(refusal)
    # Within the interval nothing is fetched again; the caller is still told to retry.
    assert _refusal(store, "any-kid").status == 503
