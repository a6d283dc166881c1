"""Forge installations: which tenant an installation is, where its Jira is, its system token.

A tenant installed only through Forge has no Connect shared secret, so the column may be null.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forge_installations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("installation_id", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("cloud_id", sa.String(length=64), nullable=True),
        sa.Column("api_base_url", sa.String(length=255), nullable=True),
        sa.Column("environment_type", sa.String(length=32), nullable=True),
        sa.Column("system_token_encrypted", sa.Text(), nullable=True),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_forge_installations_installation_id",
        "forge_installations",
        ["installation_id"],
        unique=True,
    )
    op.create_index("ix_forge_installations_tenant_id", "forge_installations", ["tenant_id"])
    with op.batch_alter_table("tenants") as batch:
        batch.alter_column(
            "shared_secret_encrypted", existing_type=sa.String(length=1024), nullable=True
        )


def downgrade() -> None:
    op.drop_index("ix_forge_installations_tenant_id", table_name="forge_installations")
    op.drop_index("ix_forge_installations_installation_id", table_name="forge_installations")
    op.drop_table("forge_installations")
    # Tenants without a shared secret cannot be kept by the older schema.
    op.execute("DELETE FROM tenants WHERE shared_secret_encrypted IS NULL")
    with op.batch_alter_table("tenants") as batch:
        batch.alter_column(
            "shared_secret_encrypted", existing_type=sa.String(length=1024), nullable=False
        )
