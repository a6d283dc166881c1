"""Engine creation, migrations (Alembic, run from code so `connector migrate` needs no ini),
and how the database's failures look to code outside `storage/`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Engine as Engine  # re-exported: the handle `Runtime` holds
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import create_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class DatabaseUnavailable(Exception):
    """The database could not be reached or read: a wrong URL, a schema that was never
    migrated, a server that is down. The message names the driver's error class."""


@contextmanager
def database_errors() -> Iterator[None]:
    """Raise the database's failures within as `DatabaseUnavailable`."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(type(exc).__name__) from exc


def database_answers(engine: Engine) -> bool:
    """Whether the database answers a trivial query (the health check)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not healthy"; the caller reports it
        return False
    return True


def is_postgresql(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def libpq_url(database_url: str) -> str:
    """The libpq URI of an SQLAlchemy PostgreSQL URL (its `+driver` dropped), for clients that
    connect on their own (the task queue of `connector.engine.queue`)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    # A server connection can be dropped under us (restart, idle timeout): ping it before
    # use. A SQLite file cannot, so there the ping would only add a statement per session.
    kwargs: dict[str, Any] = {"pool_pre_ping": url.get_backend_name() != "sqlite"}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # The web app and the in-process worker share the engine across threads.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the poller write while pages read; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`; safe to run on every start."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
