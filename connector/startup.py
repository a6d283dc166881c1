"""What `serve`, `worker`, `migrate` and the Procfile's web check before they claim to run.

The README promises that a bad value stops the app with one line naming the variable. Beyond
what `connector.settings` reads, three things only show when the app touches them: the
database (DATABASE_URL), the keys of what is stored (ENCRYPTION_KEY) and the port (PORT).
Each failure here is a `StartupError` whose message is that one line; the CLI prints it as
`configuration error: ...` and exits 2, without a traceback.
"""

from __future__ import annotations

import socket

from connector.settings import Settings
from connector.storage.db import (
    DatabaseUnavailable,
    Engine,
    database_errors,
    make_engine,
    migrate,
    shown_url,
)
from connector.storage.key_rotation import KeyMismatch, check_keys
from connector.storage.secrets import SecretBox


class StartupError(Exception):
    """A setting the app cannot start with; the message names it and says what to do."""


def prepared_engine(settings: Settings) -> Engine:
    """An engine on a reachable, migrated database whose secrets the configured keys read."""
    try:
        engine = make_engine(settings.database_url)
    except OSError as exc:  # the SQLite file's folder cannot be made
        raise StartupError(
            f"DATABASE_URL: cannot create the folder of the SQLite database "
            f"({exc.strerror or exc}): check the path"
        ) from None
    try:
        with database_errors():
            migrate(engine)
            check_keys(engine, SecretBox(settings.encryption_keys))
    except DatabaseUnavailable as exc:
        engine.dispose()
        raise StartupError(
            f"DATABASE_URL: cannot use the database at {shown_url(settings.database_url)} "
            f"({exc.detail}): check the URL, that the server runs and the database exists"
        ) from None
    except KeyMismatch as exc:
        engine.dispose()
        raise StartupError(str(exc)) from None
    return engine


def bound_socket(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything says the app started; a port in use (or
    an address this machine does not have) is a `StartupError` naming PORT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a restarted app may bind while old connections linger in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(
            f"PORT {port}: cannot listen on {host}:{port} ({exc.strerror or exc}): stop what "
            "uses it or set PORT to a free port"
        ) from None
    sock.set_inheritable(True)
    return sock
