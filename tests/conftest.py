"""Fixtures shared by the suite: databases (SQLite and PostgreSQL), settings, the running app."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine, make_url

from connector.settings import Settings
from connector.storage.db import make_engine, migrate

# Real Dovecot (IMAP, POP3, TLS) on loopback: the `dovecot` and `mail_user` fixtures;
# aiosmtpd for outbound mail: `smtp_server`; a service that is no mail server: `banner_server`.
pytest_plugins = ["tests.servers.dovecot", "tests.servers.smtp", "tests.servers.banner"]

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def servers_required() -> bool:
    return os.environ.get("REQUIRE_SERVERS") == "1"


def skip_or_fail(reason: str) -> None:
    """A missing real server skips locally and fails where CI promised it (REQUIRE_SERVERS=1)."""
    if servers_required():
        pytest.fail(f"{reason} (REQUIRE_SERVERS=1)")
    pytest.skip(reason)


def _postgres_database() -> Iterator[str]:
    import psycopg

    admin = make_url(POSTGRES_ADMIN_URL)
    conninfo = (
        f"host={admin.host} port={admin.port or 5432} user={admin.username} dbname={admin.database}"
    )
    try:
        connection = psycopg.connect(conninfo, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        skip_or_fail(f"PostgreSQL does not answer at {admin.host}:{admin.port}: {exc}")
        raise  # unreachable: skip_or_fail raises
    name = f"connector_test_{uuid.uuid4().hex[:12]}"
    with connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as cleanup:
            cleanup.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend the product supports."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'connector.db'}"
        return
    yield from _postgres_database()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    yield from _postgres_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'connector.db'}"


@pytest.fixture
def encryption_key() -> str:
    return Fernet.generate_key().decode("ascii")


def make_settings(
    *,
    base_url: str,
    database_url: str,
    encryption_key: str,
    keys_url: str = "http://127.0.0.1:9",
    env: Mapping[str, str] | None = None,
) -> Settings:
    """`env`: further settings (such as FORGE_APP_ID)."""
    return Settings.from_env(
        {
            "BASE_URL": base_url,
            "DATABASE_URL": database_url,
            "ENCRYPTION_KEY": encryption_key,
            "CONNECT_INSTALL_KEYS_URL": keys_url,
            **(env or {}),
        }
    )


@pytest.fixture
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()
