"""Address rules: one mailbox feeding many projects, chosen by the address mail was sent to.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Ordered JSON list of rules, edited with the source (connector.routing).
    op.add_column(
        "mail_sources",
        sa.Column("address_rules", sa.Text(), nullable=False, server_default="[]"),
    )
    # Project keys a `local+KEY@domain` address may name (JSON list), and what mail no rule
    # matches does: "source" (the source's own project) or "ignore".
    op.add_column(
        "mail_sources",
        sa.Column("plus_projects", sa.Text(), nullable=False, server_default="[]"),
    )
    op.add_column(
        "mail_sources",
        sa.Column("unrouted", sa.String(length=16), nullable=False, server_default="source"),
    )
    # Which header and rule decided where a message went, for the email log.
    op.add_column("email_log", sa.Column("route", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("email_log") as batch:
        batch.drop_column("route")
    with op.batch_alter_table("mail_sources") as batch:
        batch.drop_column("unrouted")
        batch.drop_column("plus_projects")
        batch.drop_column("address_rules")
