"""Notification settings remember why a tenant's custom templates were turned off.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # JSON {template, reason, at, issue_key}; null while the custom templates are in use.
    op.add_column("notification_settings", sa.Column("template_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification_settings") as batch:
        batch.drop_column("template_error")
