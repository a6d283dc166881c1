"""SQLModel tables. They stay inside `storage/`; the engine sees frozen dataclasses."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel


def utc_now() -> datetime:
    return datetime.now(UTC)


class TenantRow(SQLModel, table=True):
    __tablename__ = "tenants"

    id: int | None = Field(default=None, primary_key=True)
    client_key: str = Field(max_length=255, unique=True, index=True)
    app_key: str = Field(max_length=80)
    base_url: str = Field(max_length=255)
    display_url: str = Field(max_length=255)
    product_type: str = Field(max_length=32)
    description: str = Field(default="", max_length=1024)
    server_version: str = Field(default="", max_length=64)
    plugins_version: str = Field(default="", max_length=64)
    # Fernet token of the Connect shared secret; never the secret itself.
    shared_secret_encrypted: str = Field(max_length=1024)
    installed: bool = Field(default=True)
    enabled: bool = Field(default=True)
    installed_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    uninstalled_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
