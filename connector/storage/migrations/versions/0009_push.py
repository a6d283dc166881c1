"""Push: a source may idle (IMAP IDLE), and the list shows how its mail arrives.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On for every source, old ones too: push only makes mail come sooner; polling stays.
    op.add_column(
        "mail_sources",
        sa.Column("push", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    # What the worker's push watcher last said: "push (IMAP IDLE)" or "polling: <reason>".
    op.add_column(
        "mail_sources", sa.Column("receives", sa.Text(), nullable=False, server_default="")
    )
    # Which worker idles on the source: one at a time, the claim renewed while it runs.
    op.add_column("mail_sources", sa.Column("push_owner", sa.String(length=64), nullable=True))
    op.add_column(
        "mail_sources",
        sa.Column("push_expires_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("mail_sources") as batch:
        batch.drop_column("push_expires_at")
        batch.drop_column("push_owner")
        batch.drop_column("receives")
        batch.drop_column("push")
