"""Alembic environment: the engine is handed over by `connector.storage.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import connector.storage.models  # noqa: F401  (registers the tables on the metadata)
from connector.storage.db import ours

engine: Engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=ours,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
