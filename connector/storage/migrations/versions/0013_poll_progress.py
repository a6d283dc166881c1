"""Poll now without waiting: a poll an admin asked for, and when the latest poll started;
and "process anyway" for a message that was ignored.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Set by "Poll now" where a separate worker polls; the worker's scheduler starts it and
    # taking the lease clears it (connector.storage.poll_runs).
    op.add_column(
        "mail_sources",
        sa.Column("poll_requested_at", sa.DateTime(timezone=True), nullable=True),
    )
    # When the latest poll took the lease: its progress is the email log rows touched since.
    op.add_column(
        "mail_sources",
        sa.Column("poll_started_at", sa.DateTime(timezone=True), nullable=True),
    )

    # An admin knows better than the filters: the message is processed with them off.
    op.add_column(
        "email_log",
        sa.Column("process_anyway", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("email_log") as batch:
        batch.drop_column("process_anyway")
    with op.batch_alter_table("mail_sources") as batch:
        batch.drop_column("poll_started_at")
        batch.drop_column("poll_requested_at")
