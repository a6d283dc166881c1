"""Jira's rate limits shared by every worker: the pauses Jira asked for, and the requests in
flight per site.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jira_pauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("site", sa.String(length=255), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope", "site", "target", name="uq_jira_pause"),
    )
    op.create_index("ix_jira_pauses_until", "jira_pauses", ["until"])
    op.create_table(
        "jira_slots",
        sa.Column("site", sa.String(length=255), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site", "slot"),
    )


def downgrade() -> None:
    op.drop_table("jira_slots")
    op.drop_index("ix_jira_pauses_until", table_name="jira_pauses")
    op.drop_table("jira_pauses")
