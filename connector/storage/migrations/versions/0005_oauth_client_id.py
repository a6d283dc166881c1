"""Tenants keep the install's OAuth client id, to act as the site's users.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: tenants installed before this revision get it with their next install callback
    # (Connect sends one on every app upgrade); until then comments are written by the app.
    op.add_column("tenants", sa.Column("oauth_client_id", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("oauth_client_id")
