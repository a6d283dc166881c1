"""Newest-first pages of one tenant's rows: how the admin API lists the email log, the mail
sent and the webhook events received. Pages follow ids (`before_id`), not offsets, so rows
arriving meanwhile never shift a page."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement
from sqlmodel import SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

Row = TypeVar("Row", bound=SQLModel)


def newest_first(
    table: type[Row],
    tenant_id: int,
    *,
    limit: int,
    before_id: int | None = None,
    conditions: Iterable[ColumnElement[bool]] = (),
    **equal: Any,
) -> SelectOfScalar[Row]:
    """Rows of `tenant_id`, newest first, below `before_id`, with each column of `equal` equal
    to its value (a filter given as None or "" is no filter), and `conditions` besides."""
    ident = col(getattr(table, "id"))  # noqa: B009 - a column of whichever table
    query = select(table).where(col(getattr(table, "tenant_id")) == tenant_id)  # noqa: B009
    for name, value in equal.items():
        if value is not None and value != "":
            query = query.where(col(getattr(table, name)) == value)
    for condition in conditions:
        query = query.where(condition)
    if before_id is not None:
        query = query.where(ident < before_id)
    return query.order_by(ident.desc()).limit(limit)
