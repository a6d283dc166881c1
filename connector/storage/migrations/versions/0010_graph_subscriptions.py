"""Microsoft Graph change notifications: one subscription per Graph source, kept by one worker.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "graph_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("mail_sources.id"), nullable=False),
        sa.Column("subscription_id", sa.String(length=128), nullable=True),
        # A hash of the clientState: a notification is checked against it, never the value.
        sa.Column("client_state_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("renew_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending", sa.String(length=16), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("owner_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_graph_subscriptions_source_id", "graph_subscriptions", ["source_id"], unique=True
    )
    op.create_index(
        "ix_graph_subscriptions_subscription_id",
        "graph_subscriptions",
        ["subscription_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_graph_subscriptions_subscription_id", table_name="graph_subscriptions")
    op.drop_index("ix_graph_subscriptions_source_id", table_name="graph_subscriptions")
    op.drop_table("graph_subscriptions")
