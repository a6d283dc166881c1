"""Mail sources, the email log (exactly-once ledger), threads, participants, tenant settings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=16), nullable=False),
        sa.Column("verify_tls", sa.Boolean(), nullable=False),
        sa.Column("username", sa.String(length=320), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=True),
        sa.Column("oauth_encrypted", sa.Text(), nullable=True),
        sa.Column("folder", sa.String(length=255), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("after_processing", sa.String(length=16), nullable=False),
        sa.Column("success_folder", sa.String(length=255), nullable=True),
        sa.Column("failure_folder", sa.String(length=255), nullable=True),
        sa.Column("exclusion_folders", sa.Text(), nullable=False),
        sa.Column("max_message_bytes", sa.Integer(), nullable=False),
        sa.Column("project_key", sa.String(length=32), nullable=False),
        sa.Column("issue_type", sa.String(length=64), nullable=False),
        sa.Column("unmatched", sa.String(length=16), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("first_connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mail_sources_next_poll_at", "mail_sources", ["next_poll_at"], unique=False)
    op.create_index("ix_mail_sources_tenant_id", "mail_sources", ["tenant_id"], unique=False)
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("issue_key", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("jira_account_id", sa.String(length=128), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "issue_key", "address", name="uq_participant"),
    )
    op.create_index("ix_participants_issue_key", "participants", ["issue_key"], unique=False)
    op.create_index("ix_participants_tenant_id", "participants", ["tenant_id"], unique=False)
    op.create_table(
        "tenant_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("field_mapping", sa.Text(), nullable=False),
        sa.Column("workaround_email", sa.String(length=320), nullable=True),
        sa.Column("workaround_token_encrypted", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id"),
    )
    op.create_table(
        "thread_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("message_id_digest", sa.String(length=64), nullable=False),
        sa.Column("issue_key", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "message_id_digest", name="uq_thread_message"),
    )
    op.create_index("ix_thread_messages_tenant_id", "thread_messages", ["tenant_id"], unique=False)
    op.create_table(
        "email_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("message_key", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("message_id_digest", sa.String(length=64), nullable=True),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("sender_name", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("issue_key", sa.String(length=64), nullable=True),
        sa.Column("comment_id", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trail", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("raw_encrypted", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["mail_sources.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", "message_key", name="uq_email_log_position"),
    )
    op.create_index(
        "ix_email_log_message_id_digest", "email_log", ["message_id_digest"], unique=False
    )
    op.create_index("ix_email_log_outcome", "email_log", ["outcome"], unique=False)
    op.create_index("ix_email_log_source_id", "email_log", ["source_id"], unique=False)
    op.create_index("ix_email_log_tenant_id", "email_log", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_email_log_message_id_digest", table_name="email_log")
    op.drop_index("ix_email_log_outcome", table_name="email_log")
    op.drop_index("ix_email_log_source_id", table_name="email_log")
    op.drop_index("ix_email_log_tenant_id", table_name="email_log")
    op.drop_table("email_log")
    op.drop_index("ix_thread_messages_tenant_id", table_name="thread_messages")
    op.drop_table("thread_messages")
    op.drop_table("tenant_settings")
    op.drop_index("ix_participants_issue_key", table_name="participants")
    op.drop_index("ix_participants_tenant_id", table_name="participants")
    op.drop_table("participants")
    op.drop_index("ix_mail_sources_next_poll_at", table_name="mail_sources")
    op.drop_index("ix_mail_sources_tenant_id", table_name="mail_sources")
    op.drop_table("mail_sources")
