"""Indexes for the email-log queries every message or poll makes, so their cost does not
grow with the log (issue 17).

- The per-sender rate check counts a sender's mail of the last hour that reached Jira:
  (tenant_id, sender, received_at) finds those rows without reading the tenant's log.
- A poll's due retries are a source's pending rows: (source_id, outcome) finds them without
  reading every row the source ever logged.
- The mail of one issue (acknowledgements, notifications): (tenant_id, issue_key).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_email_log_sender_recent", "email_log", ["tenant_id", "sender", "received_at"]
    )
    op.create_index("ix_email_log_source_outcome", "email_log", ["source_id", "outcome"])
    op.create_index("ix_email_log_issue", "email_log", ["tenant_id", "issue_key"])


def downgrade() -> None:
    op.drop_index("ix_email_log_issue", table_name="email_log")
    op.drop_index("ix_email_log_source_outcome", table_name="email_log")
    op.drop_index("ix_email_log_sender_recent", table_name="email_log")
