"""Pooled PostgreSQL connections: pinged only after sitting idle, replaced when found dead."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from connector.storage import db
from connector.storage.db import make_engine
from tests.conftest import _postgres_database


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_database()


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def _count_pings(engine: Engine) -> list[int]:
    pings: list[int] = []
    dialect = engine.dialect
    ping = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_used_just_now_is_not_pinged(engine: Engine) -> None:
    pings = _count_pings(engine)
    first = _backend_pid(engine)
    for _ in range(5):
        assert _backend_pid(engine) == first  # the same pooled connection every time
    assert pings == []


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(
    engine: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _count_pings(engine)
    first = _backend_pid(engine)  # the pool's one connection
    killer = make_engine(postgres_url)
    try:
        with killer.connect() as other:  # the server ends the pooled connection
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            other.commit()
    finally:
        killer.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    # The pooled connection now counts as idle: it fails its ping, and a new one is used
    # without the caller seeing an error.
    assert _backend_pid(engine) != first
    assert pings
