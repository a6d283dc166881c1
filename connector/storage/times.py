"""Time as storage keeps it: every datetime is UTC.

`utc_now` is the clock for stored times. SQLite hands datetimes back without a zone; `as_utc`
says what they are (UTC) so they compare with aware datetimes. No SQL here: modules outside
`storage/` take their clock from this module without reaching the database's libraries.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC, so say so."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def as_utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)
