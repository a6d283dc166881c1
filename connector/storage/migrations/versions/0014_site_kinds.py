"""Sites without an app install: a Jira Cloud site reached with an API token, or a Jira Data
Center server with a personal access token (`connector site add`), how far their changes have
been read for notifications, and the sign-in links and browser sessions of their admin pages.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # All null for tenants that installed the app (Connect or Forge).
    op.add_column("tenants", sa.Column("site_kind", sa.String(length=16), nullable=True))
    op.add_column("tenants", sa.Column("site_email", sa.String(length=255), nullable=True))
    op.add_column("tenants", sa.Column("site_token_encrypted", sa.Text(), nullable=True))
    op.add_column("tenants", sa.Column("site_account_id", sa.String(length=128), nullable=True))
    op.add_column(
        "tenants", sa.Column("changes_read_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "admin_links",
        sa.Column("id_hash", sa.String(length=64), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_admin_links_tenant_id", "admin_links", ["tenant_id"])
    op.create_table(
        "admin_sessions",
        sa.Column("id_hash", sa.String(length=64), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_admin_sessions_tenant_id", "admin_sessions", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_admin_sessions_tenant_id", table_name="admin_sessions")
    op.drop_table("admin_sessions")
    op.drop_index("ix_admin_links_tenant_id", table_name="admin_links")
    op.drop_table("admin_links")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("changes_read_until")
        batch.drop_column("site_account_id")
        batch.drop_column("site_token_encrypted")
        batch.drop_column("site_email")
        batch.drop_column("site_kind")
