"""ENCRYPTION_KEY against what is stored: the start-up check and `connector rotate-key`.

Every column whose name ends in `_encrypted` holds Fernet tokens of `SecretBox` (shared
secrets, mailbox passwords and OAuth state, API and system tokens, and the raw mail kept for
retries); the columns are found on the tables' metadata, so a new one is checked and rotated
without being listed here.

Decision: the start-up check reads every secret but only the oldest and newest stored mail of
each mail column (`raw_encrypted`): a wrong key fails on any of them, secrets are few, and
reading all retained mail (up to 30 days of it) would slow every start. Rotation reads all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Column, Table, and_, select, update
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import connector.storage.models  # noqa: F401  (registers the tables on the metadata)
from connector.storage.db import Engine
from connector.storage.secrets import SecretBox, SecretDecryptionError

_SUFFIX = "_encrypted"
# Whole messages: sampled at start, not read in full.
_MAIL_COLUMNS = {"raw_encrypted"}
_BATCH = 200


class KeyMismatch(Exception):
    """Stored secrets that no configured key decrypts; the message says what to do."""


@dataclass(frozen=True)
class EncryptedColumn:
    table: Table
    column: Column[str]

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"

    @property
    def key(self) -> Column[int]:
        (primary,) = self.table.primary_key.columns
        return primary


def encrypted_columns() -> list[EncryptedColumn]:
    return [
        EncryptedColumn(table, column)
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith(_SUFFIX)
    ]


def check_keys(engine: Engine, secrets: SecretBox) -> int:
    """Raise `KeyMismatch` unless the configured keys decrypt what is stored; the number
    of values checked otherwise."""
    failed: dict[str, int] = {}
    checked = 0
    with engine.connect() as connection:
        for encrypted in encrypted_columns():
            for value in _sample(connection, encrypted):
                checked += 1
                try:
                    secrets.decrypt(value)
                except SecretDecryptionError:
                    failed[encrypted.name] = failed.get(encrypted.name, 0) + 1
    if failed:
        where = ", ".join(f"{name} ({count})" for name, count in failed.items())
        raise KeyMismatch(
            f"ENCRYPTION_KEY does not decrypt what is stored ({where}): set it to the key they "
            "were encrypted with. To change keys, list the new key first and the old key after "
            "it (ENCRYPTION_KEY=NEW,OLD), run `connector rotate-key`, then drop OLD"
        )
    return checked


def _sample(connection: Connection, encrypted: EncryptedColumn) -> Iterator[str]:
    present = encrypted.column.is_not(None)
    base = select(encrypted.column).where(present)
    if encrypted.column.name not in _MAIL_COLUMNS:
        yield from connection.scalars(base)
        return
    ends = select(encrypted.key, encrypted.column).where(present).limit(1)
    seen = set()
    for order in (encrypted.key.asc(), encrypted.key.desc()):
        row = connection.execute(ends.order_by(order)).first()
        if row is not None and row[0] not in seen:
            seen.add(row[0])
            yield row[1]


def rotate_keys(engine: Engine, secrets: SecretBox) -> dict[str, int]:
    """Re-encrypt every stored value with the first key, in batches of committed rows; the
    values changed per column. A value changed meanwhile by a running app (which encrypts
    with the same first key) is left as it is. Raises `KeyMismatch` on a value no key
    decrypts, before writing anything of its batch."""
    counts: dict[str, int] = {}
    for encrypted in encrypted_columns():
        counts[encrypted.name] = _rotate_column(engine, secrets, encrypted)
    return counts


def _rotate_column(engine: Engine, secrets: SecretBox, encrypted: EncryptedColumn) -> int:
    key, column = encrypted.key, encrypted.column
    done = 0
    after: int | None = None
    while True:
        query = select(key, column).where(column.is_not(None)).order_by(key).limit(_BATCH)
        if after is not None:
            query = query.where(key > after)
        with engine.begin() as connection:
            rows = connection.execute(query).all()
            for row_key, value in rows:
                try:
                    rotated = secrets.rotate(value)
                except SecretDecryptionError:
                    raise KeyMismatch(
                        f"{encrypted.name} of row {row_key} is encrypted with none of the keys "
                        "in ENCRYPTION_KEY: add the key it was encrypted with after the new one"
                    ) from None
                connection.execute(
                    update(encrypted.table)
                    .where(and_(key == row_key, column == value))
                    .values({column.name: rotated})
                )
                done += 1
        if len(rows) < _BATCH:
            return done
        after = rows[-1][0]
