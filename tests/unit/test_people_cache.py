"""The per-tenant cache of Jira users by address, shared across polls."""

from __future__ import annotations

from connector.drafts import JiraPerson
from connector.jira.people import PeopleCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_people_cache_remembers_no_account_until_ttl() -> None:
    clock = Clock()
    cache = PeopleCache(ttl_seconds=60, clock=clock)
    cache.remember(1, "user", "Ann@Example.com", None)
    assert cache.lookup(1, "user", "ann@example.com") == (True, None)
    clock.now += 61
    assert cache.lookup(1, "user", "ann@example.com") == (False, None)


def test_people_cache_tenants_do_not_share_answers() -> None:
    cache = PeopleCache()
    ann = JiraPerson("acc-ann", "Ann")
    cache.for_tenant(1).remember("user", "ann@example.com", ann)
    assert cache.for_tenant(1).lookup("user", "ann@example.com") == (True, ann)
    assert cache.for_tenant(2).lookup("user", "ann@example.com") == (False, None)
    assert cache.lookup(1, "customer", "ann@example.com") == (False, None)


def test_people_cache_forget_drops_only_that_tenant() -> None:
    cache = PeopleCache()
    ann = JiraPerson("acc-ann", "Ann")
    cache.remember(1, "user", "ann@example.com", ann)
    cache.remember(2, "user", "ann@example.com", ann)
    cache.forget(1)
    assert cache.lookup(1, "user", "ann@example.com") == (False, None)
    assert cache.lookup(2, "user", "ann@example.com") == (True, ann)
