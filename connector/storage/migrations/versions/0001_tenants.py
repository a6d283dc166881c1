"""Tenants: one row per Jira site the app is installed in.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_key", sa.String(length=255), nullable=False),
        sa.Column("app_key", sa.String(length=80), nullable=False),
        sa.Column("base_url", sa.String(length=255), nullable=False),
        sa.Column("display_url", sa.String(length=255), nullable=False),
        sa.Column("product_type", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("server_version", sa.String(length=64), nullable=False),
        sa.Column("plugins_version", sa.String(length=64), nullable=False),
        sa.Column("shared_secret_encrypted", sa.String(length=1024), nullable=False),
        sa.Column("installed", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uninstalled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_tenants_client_key", "tenants", ["client_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_tenants_client_key", table_name="tenants")
    op.drop_table("tenants")
