"""Claims: which worker keeps a long-running piece of work (an idle connection, a Graph
subscription), renewed while it runs.

One conditional UPDATE per round: with several workers exactly one holds each row, and a
worker that stopped renewing (crashed) is taken over once its claim has expired.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.storage.times import utc_now


@dataclass(frozen=True)
class ClaimColumns:
    """The table, the column the keys are in, and the claim's owner and expiry columns."""

    table: Any
    key: Any
    owner: Any
    expires_at: Any


def claim_rows(
    engine: Engine, columns: ClaimColumns, keys: Collection[int], owner: str, seconds: float
) -> set[int]:
    """Take or renew the claim on these rows; returns the keys this owner holds."""
    if not keys:
        return set()
    now = utc_now()
    with Session(engine) as session:
        session.execute(
            update(columns.table)
            .where(
                columns.key.in_(list(keys)),
                or_(
                    columns.owner.is_(None),
                    columns.owner == owner,
                    columns.expires_at < now,
                ),
            )
            .values({columns.owner: owner, columns.expires_at: now + timedelta(seconds=seconds)})
        )
        session.commit()
        held = session.exec(
            select(columns.key).where(columns.key.in_(list(keys)), columns.owner == owner)
        ).all()
        return {int(key) for key in held if key}
