"""Engine creation, migrations (Alembic, run from code so `connector migrate` needs no ini),
and how the database's failures look to code outside `storage/`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, event, text
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine import Engine as Engine  # re-exported: the handle `Runtime` holds
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlmodel import create_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class DatabaseUnavailable(Exception):
    """The database could not be reached or read: a wrong URL, a schema that was never
    migrated, a server that is down. The message names the driver's error class; `detail`
    is the first line of the driver's own words (for start-up errors)."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


@contextmanager
def database_errors() -> Iterator[None]:
    """Raise the database's failures within as `DatabaseUnavailable`."""
    try:
        yield
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        lines = str(cause).strip().splitlines()
        raise DatabaseUnavailable(type(exc).__name__, lines[0] if lines else "") from exc


def shown_url(database_url: str) -> str:
    """The URL as messages may show it: the password hidden."""
    return make_url(database_url).render_as_string(hide_password=True)


def conflict_insert(connection: Connection, table: Table) -> PgInsert | SqliteInsert:
    """An INSERT into `table` that can say what to do on a conflict (`ON CONFLICT DO NOTHING`
    or `DO UPDATE`), in the connection's dialect: the two we support both have it."""
    if connection.dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


class Write(Protocol):
    """Writes another repository makes in a transaction it is handed, so that they commit
    with its own (as `EmailLog.finish` does with the participants of a message's issue)."""

    def __call__(self, connection: Connection) -> None: ...


_BUILT: dict[tuple[str, Callable[[Connection], Any]], Any] = {}


def built_for(connection: Connection, build: Callable[[Connection], Any]) -> Any:
    """`build(connection)`'s statement, built once per dialect: for statements that run for
    every message and whose SQL depends on the dialect (`conflict_insert`). A statement built
    once also has its cache key computed once; only the bound values change between runs."""
    key = (connection.dialect.name, build)
    statement = _BUILT.get(key)
    if statement is None:
        statement = _BUILT[key] = build(connection)
    return statement


def database_answers(engine: Engine) -> bool:
    """Whether the database answers a trivial query (the health check)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not healthy"; the caller reports it
        return False
    return True


# A pooled server connection idle for longer than this is pinged before it is used again.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "connector.idle_since"


def is_postgresql(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def libpq_url(database_url: str) -> str:
    """The libpq URI of an SQLAlchemy PostgreSQL URL (its `+driver` dropped), for clients that
    connect on their own (the task queue of `connector.engine.queue`)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


# On PostgreSQL a process pools one connection per job of its worker
# (`WORKER_CONCURRENCY`) and these beside them: the push watchers, the outbound round,
# dispatch, the lease renewals of running polls and the web app's requests.
SPARE_CONNECTIONS = 8
# Opened above the pool for a burst and closed when given back: a poll with mail runs up to
# four messages at once, each taking a connection of its own for a moment.
BURST_CONNECTIONS = 10


def pooled_connections(jobs: int) -> int:
    """The most connections one process opens to PostgreSQL through SQLAlchemy."""
    return jobs + SPARE_CONNECTIONS + BURST_CONNECTIONS


def make_engine(database_url: str, *, jobs: int | None = None) -> Engine:
    """`jobs`: how many jobs the process's worker runs at once (`WORKER_CONCURRENCY`), so
    that on PostgreSQL none of them waits for a pooled connection; None keeps SQLAlchemy's
    pool (5 and 10 more for bursts), enough for a command or a test."""
    url = make_url(database_url)
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql" and jobs is not None:
        kwargs["pool_size"] = jobs + SPARE_CONNECTIONS
        kwargs["max_overflow"] = BURST_CONNECTIONS
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # The web app and the in-process worker share the engine across threads.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
    else:
        _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a server connection before use only when it sat idle in the pool for a while.

    A server connection can be dropped while it waits in the pool (a restart, an idle
    timeout, the network), so it is checked before use. SQLAlchemy's `pool_pre_ping` checks
    on every checkout: a round trip and a server transaction each time, about half of all
    the transactions a message cost. A connection given back less than
    `PING_AFTER_IDLE_SECONDS` ago was working then, so it is used as it is; one idle longer
    is pinged, and a failed ping makes the pool discard it and connect afresh (SQLAlchemy's
    `DisconnectionError` protocol, retried by the pool). Should a connection die within that
    second, the statement on it fails with the driver's disconnect error, SQLAlchemy discards
    it and every connection pooled before it, and the caller's error handling applies, as it
    would to a server that went away in the middle of a transaction."""

    @event.listens_for(engine, "connect")
    def connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.pool, "checkin")
    def given_back(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE, 0.0)
        if time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any driver error: the connection is not usable
            raise DisconnectionError(f"connection failed its ping: {type(exc).__name__}") from exc
        if not alive:
            raise DisconnectionError("connection failed its ping")


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


# The PostgreSQL advisory lock taken around migrating: any fixed 64-bit number no other
# code of the database uses; this one is "mailconn" in ASCII.
MIGRATION_LOCK = 0x6D61696C636F6E6E


def ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's `include_object`: whether a schema object belongs to our models. The task
    queue's tables (`procrastinate_*`, migration 0012) are procrastinate's own schema, which
    no model declares: comparing or autogenerating must leave them alone."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return not str(table or "").startswith("procrastinate_")


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`; safe to run on every start, and by several
    processes at once: on PostgreSQL (where `release`, web and worker may start together)
    a session advisory lock lets one migrate while the others wait, then find nothing to do.
    SQLite needs none: its writers take the whole file, and it serves one machine."""
    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), revision)
        return
    # The lock lives on its own connection for the whole upgrade (Alembic takes another from
    # the pool); it is released explicitly, since the pool keeps the session open, and by
    # the server if this process dies.
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            command.upgrade(alembic_config(engine), revision)
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            holder.commit()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
