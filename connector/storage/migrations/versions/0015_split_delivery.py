"""Delivery as separate work: a fetch records and stores each message and queues its delivery
as a job of its own; the email log keeps the delivery's lock (the thread), the digest of the
message's own Message-ID, the post-action owed to the mailbox, and the claim of the delivery
that runs it (connector.storage.deliveries).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("email_log", sa.Column("thread_key", sa.String(length=64), nullable=True))
    op.add_column("email_log", sa.Column("order_digest", sa.String(length=64), nullable=True))
    op.add_column(
        "email_log",
        sa.Column("post_action_due", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "email_log", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_email_log_order", "email_log", ["tenant_id", "order_digest"])
    op.create_index("ix_email_log_thread", "email_log", ["thread_key"])
    op.create_index("ix_email_log_post_action", "email_log", ["source_id", "post_action_due"])


def downgrade() -> None:
    op.drop_index("ix_email_log_post_action", table_name="email_log")
    op.drop_index("ix_email_log_thread", table_name="email_log")
    op.drop_index("ix_email_log_order", table_name="email_log")
    with op.batch_alter_table("email_log") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("post_action_due")
        batch.drop_column("order_digest")
        batch.drop_column("thread_key")
