"""SQLModel tables. They stay inside `storage/`; the engine sees frozen dataclasses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Text, UniqueConstraint, false, true
from sqlmodel import Field, SQLModel

from connector.storage.times import utc_now


class TenantRow(SQLModel, table=True):
    __tablename__ = "tenants"

    id: int | None = Field(default=None, primary_key=True)
    client_key: str = Field(max_length=255, unique=True, index=True)
    app_key: str = Field(max_length=80)
    base_url: str = Field(max_length=255)
    display_url: str = Field(max_length=255)
    product_type: str = Field(max_length=32)
    description: str = Field(default="", max_length=1024)
    server_version: str = Field(default="", max_length=64)
    plugins_version: str = Field(default="", max_length=64)
    # Fernet token of the Connect shared secret; never the secret itself. None for a tenant
    # installed only through Forge (connector.forge.installations).
    shared_secret_encrypted: str | None = Field(default=None, max_length=1024)
    # From the install payload; needed to act as the site's users (Connect user impersonation).
    oauth_client_id: str | None = Field(default=None, max_length=255)
    installed: bool = Field(default=True)
    enabled: bool = Field(default=True)
    installed_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    uninstalled_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # A site connected without an app install (`connector site add`, connector.sites): its
    # kind ("cloud": email + API token, "datacenter": personal access token), the account the
    # token belongs to, and the token (Fernet; never the token itself). None for installs.
    site_kind: str | None = Field(default=None, max_length=16)
    site_email: str | None = Field(default=None, max_length=255)
    site_token_encrypted: str | None = Field(default=None, sa_type=Text)
    site_account_id: str | None = Field(default=None, max_length=128)
    # How far the changes of an install-free site have been read for notifications
    # (connector.outbound.site_changes): there are no app webhooks without an install.
    changes_read_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ForgeInstallationRow(SQLModel, table=True):
    """A Forge installation of the app: the tenant it is, where its Jira answers, and the app
    system token Forge last handed over (Fernet; never the token itself)."""

    __tablename__ = "forge_installations"

    id: int | None = Field(default=None, primary_key=True)
    installation_id: str = Field(max_length=255, unique=True, index=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    cloud_id: str | None = Field(default=None, max_length=64)
    api_base_url: str | None = Field(default=None, max_length=255)
    environment_type: str | None = Field(default=None, max_length=32)
    system_token_encrypted: str | None = Field(default=None, sa_type=Text)
    token_expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class MailSourceRow(SQLModel, table=True):
    """A mailbox a tenant connected, how to process its mail, and where polling stands."""

    __tablename__ = "mail_sources"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=1000)
    protocol: str = Field(max_length=16)
    provider: str = Field(default="custom", max_length=32)
    host: str = Field(max_length=255)
    port: int
    security: str = Field(max_length=16)
    verify_tls: bool = Field(default=True)
    username: str = Field(max_length=320)
    # Fernet tokens; never the secrets themselves.
    password_encrypted: str | None = Field(default=None, sa_type=Text)
    oauth_encrypted: str | None = Field(default=None, sa_type=Text)
    folder: str = Field(default="INBOX", max_length=255)
    interval_minutes: int = Field(default=1)
    push: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    timeout_seconds: int = Field(default=30)
    after_processing: str = Field(default="mark_read", max_length=16)
    success_folder: str | None = Field(default=None, max_length=255)
    failure_folder: str | None = Field(default=None, max_length=255)
    exclusion_folders: str = Field(default="[]", sa_type=Text)  # JSON list
    max_message_bytes: int = Field(default=25 * 1024 * 1024)
    project_key: str = Field(max_length=32)
    issue_type: str = Field(max_length=64)
    unmatched: str = Field(default="create", max_length=16)
    policy: str = Field(default="{}", sa_type=Text)  # JSON: the pipeline's per-source rules
    # Address routing (connector.pipeline.routes): a JSON list of rules, first match wins; a
    # JSON list of project keys plus addresses may name; what mail no rule matches does.
    address_rules: str = Field(
        default="[]", sa_type=Text, sa_column_kwargs={"server_default": "[]"}
    )
    plus_projects: str = Field(
        default="[]", sa_type=Text, sa_column_kwargs={"server_default": "[]"}
    )
    unrouted: str = Field(
        default="source", max_length=16, sa_column_kwargs={"server_default": "source"}
    )
    enabled: bool = Field(default=False)
    status: str = Field(default="unknown", max_length=16)
    status_message: str = Field(default="", sa_type=Text)
    status_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    cursor: str | None = Field(default=None, sa_type=Text)  # JSON from connector.sources
    first_connected_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    consecutive_failures: int = Field(default=0)
    next_poll_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), index=True)
    last_poll_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # How mail arrives (`connector.push.state.PushState.describe`), written by the worker when
    # it changes; empty until a worker has looked at the source.
    receives: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})
    # Which worker keeps the source's idle connection: one at a time, renewed while it runs.
    push_owner: str | None = Field(default=None, max_length=64)
    push_expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # "Poll now" for a separate worker to start; when the latest poll took the lease
    # (connector.storage.poll_runs: its progress is read from the email log since then).
    poll_requested_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    poll_started_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class GraphSubscriptionRow(SQLModel, table=True):
    """A Microsoft Graph change-notification subscription on a Graph source's folder
    (`connector.push.graph_push`): at most one per source, kept by one worker at a time."""

    __tablename__ = "graph_subscriptions"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="mail_sources.id", unique=True, index=True)
    # Graph's id; None until Graph accepted the subscription (or after it removed it).
    subscription_id: str | None = Field(default=None, max_length=128, unique=True, index=True)
    # SHA-256 (hex) of the random clientState sent with the subscription; never the value.
    client_state_hash: str = Field(default="", max_length=64)
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    renew_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # What a lifecycle notification asked for: "", "reauthorize" or "resubscribe".
    pending: str = Field(default="", max_length=16)
    # A notification came since the owning worker last looked: poll the source soon.
    notified_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # Which worker keeps the subscription (created, renewed, deleted): one at a time.
    owner: str | None = Field(default=None, max_length=64)
    owner_expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class EmailLogRow(SQLModel, table=True):
    """One row per message fetched, written before Jira is called: the exactly-once ledger."""

    __tablename__ = "email_log"
    __table_args__ = (
        UniqueConstraint("source_id", "message_key", name="uq_email_log_position"),
        # The queries every message or poll makes (migration 0011): the per-sender rate check,
        # a source's due retries, the mail of one issue.
        Index("ix_email_log_sender_recent", "tenant_id", "sender", "received_at"),
        Index("ix_email_log_source_outcome", "source_id", "outcome"),
        Index("ix_email_log_issue", "tenant_id", "issue_key"),
        # Delivery as separate work (migration 0015, connector.storage.deliveries): a reply
        # finds the thread of a message still queued, a delivery the earlier mail of its
        # thread, a fetch the post-actions owed.
        Index("ix_email_log_order", "tenant_id", "order_digest"),
        Index("ix_email_log_thread", "thread_key"),
        Index("ix_email_log_post_action", "source_id", "post_action_due"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    source_id: int = Field(foreign_key="mail_sources.id", index=True)
    message_key: str = Field(max_length=255)  # the message's place in its mailbox
    message_id: str | None = Field(default=None, sa_type=Text)
    message_id_digest: str | None = Field(default=None, max_length=64, index=True)
    sender: str = Field(default="", max_length=320)
    sender_name: str = Field(default="", max_length=255)
    subject: str = Field(default="", sa_type=Text)
    size: int = Field(default=0)
    outcome: str = Field(default="pending", max_length=16, index=True)
    reason: str = Field(default="", sa_type=Text)
    issue_key: str | None = Field(default=None, max_length=64)
    comment_id: str | None = Field(default=None, max_length=32)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    trail: str = Field(default="[]", sa_type=Text)  # JSON list of decision steps
    # JSON object (connector.pipeline.routes.Route.to_json): which header and rule decided; ""
    # before the message was routed
    route: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})
    headers: str = Field(default="[]", sa_type=Text)  # JSON list of [name, value]
    raw_encrypted: str | None = Field(default=None, sa_type=Text)
    # An admin asked to process this ignored message anyway: the source's filters are off for it.
    process_anyway: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    received_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    # Set when a fetch queued the message for delivery as a job of its own (the queue engine):
    # the lock its delivery runs under (one thread at a time, in order), the digest of its own
    # Message-ID (a reply queued later joins its thread), and that the mailbox's post-action is
    # owed once it is final (done by the source's next fetch, which clears it).
    thread_key: str | None = Field(default=None, max_length=64)
    order_digest: str | None = Field(default=None, max_length=64)
    post_action_due: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # A delivery's claim, renewed while it runs: nobody else processes the message until then.
    claimed_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ThreadMessageRow(SQLModel, table=True):
    """A Message-ID we created an issue or comment from, or sent: how replies find their issue."""

    __tablename__ = "thread_messages"
    __table_args__ = (UniqueConstraint("tenant_id", "message_id_digest", name="uq_thread_message"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    message_id_digest: str = Field(max_length=64)
    issue_key: str = Field(max_length=64)
    origin: str = Field(max_length=16)  # inbound | outbound
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class ParticipantRow(SQLModel, table=True):
    """Every sender and Cc address per issue, so people without Jira accounts can be told."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("tenant_id", "issue_key", "address", name="uq_participant"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    issue_key: str = Field(max_length=64, index=True)
    address: str = Field(max_length=320)
    name: str = Field(default="", max_length=255)
    role: str = Field(max_length=16)  # sender | cc
    jira_account_id: str | None = Field(default=None, max_length=128)
    first_seen: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    last_seen: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class TenantSettingsRow(SQLModel, table=True):
    """Per-site settings: custom-field mapping and the workaround user."""

    __tablename__ = "tenant_settings"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", unique=True)
    field_mapping: str = Field(default="{}", sa_type=Text)  # JSON: role -> custom field id
    workaround_email: str | None = Field(default=None, max_length=320)
    workaround_token_encrypted: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class OutboundConnectionRow(SQLModel, table=True):
    """How a tenant sends mail: SMTP (password or a source's OAuth tokens) or Graph sendMail."""

    __tablename__ = "outbound_connections"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", unique=True)
    transport: str = Field(default="smtp", max_length=16)  # smtp | graph
    auth: str = Field(default="password", max_length=16)  # password | oauth | none
    host: str = Field(default="", max_length=255)
    port: int = Field(default=587)
    security: str = Field(default="starttls", max_length=16)
    verify_tls: bool = Field(default=True)
    username: str = Field(default="", max_length=320)
    password_encrypted: str | None = Field(default=None, sa_type=Text)  # Fernet token
    # The mail source whose OAuth tokens sign in (auth oauth, transport graph).
    source_id: int | None = Field(default=None, foreign_key="mail_sources.id")
    from_address: str = Field(default="", max_length=320)
    from_name: str = Field(default="", max_length=255)
    reply_to: str = Field(default="", max_length=320)
    timeout_seconds: int = Field(default=30)
    enabled: bool = Field(default=True)
    status: str = Field(default="unknown", max_length=16)  # unknown | ok | error
    status_message: str = Field(default="", sa_type=Text)
    status_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class NotificationSettingsRow(SQLModel, table=True):
    """What a tenant tells customers by mail, with which templates, and how long content stays."""

    __tablename__ = "notification_settings"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", unique=True)
    enabled: bool = Field(default=True)
    events: str = Field(default='["comment_created", "issue_status"]', sa_type=Text)  # JSON
    projects: str = Field(default="{}", sa_type=Text)  # JSON: project key -> {enabled, events}
    acknowledgement: bool = Field(default=False)
    acknowledgement_per_hour: int = Field(default=3)
    link: str = Field(default="", max_length=1000)  # "", "issue" or a URL with {issue_key}
    templates: str = Field(default="{}", sa_type=Text)  # JSON: template name -> source
    # JSON {template, reason, at, issue_key} while the custom templates are off (one failed
    # as mail was sent); cleared when the admin saves the settings again.
    template_error: str | None = Field(default=None, sa_type=Text)
    retention_days: int = Field(default=30)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class OutboundMessageRow(SQLModel, table=True):
    """One mail to one recipient: the audit entry and the send queue in one row."""

    __tablename__ = "outbound_messages"
    __table_args__ = (UniqueConstraint("tenant_id", "dedupe_key", name="uq_outbound_dedupe"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    kind: str = Field(max_length=16)  # notification | acknowledgement | test
    event_id: int | None = Field(default=None, foreign_key="webhook_events.id")
    dedupe_key: str = Field(max_length=255)  # one mail per event and recipient, ever
    issue_key: str | None = Field(default=None, max_length=64)
    recipient: str = Field(max_length=320)
    recipient_name: str = Field(default="", max_length=255)
    subject: str = Field(default="", sa_type=Text)
    message_id: str = Field(max_length=255)
    status: str = Field(default="queued", max_length=16, index=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(
        default=None, sa_type=DateTime(timezone=True), index=True
    )
    lease_expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    error: str = Field(default="", sa_type=Text)
    raw_encrypted: str | None = Field(default=None, sa_type=Text)  # the whole MIME message
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class WebhookEventRow(SQLModel, table=True):
    """Every verified Jira webhook, with what became of it (handled, or why not)."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("tenant_id", "delivery_id", name="uq_webhook_delivery"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    delivery_id: str | None = Field(default=None, max_length=128)  # Jira's, same on retries
    event: str = Field(max_length=64)
    issue_key: str | None = Field(default=None, max_length=64)
    comment_id: str | None = Field(default=None, max_length=32)
    facts: str = Field(default="{}", sa_type=Text)  # JSON: what the payload said, no bodies
    status: str = Field(default="received", max_length=16, index=True)
    reason: str = Field(default="", sa_type=Text)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    received_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class JiraPauseRow(SQLModel, table=True):
    """A wait Jira asked for (connector.jira.limits): the whole app (`site` empty), one site,
    one endpoint or one issue of a site, or "near the limit" for low-priority work."""

    __tablename__ = "jira_pauses"
    __table_args__ = (UniqueConstraint("scope", "site", "target", name="uq_jira_pause"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=16)  # app, site, endpoint, issue, near-app, near-site
    site: str = Field(default="", max_length=255)
    target: str = Field(default="", max_length=255)  # the endpoint or issue key, else empty
    until: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    reason: str = Field(default="", max_length=64)  # Jira's RateLimit-Reason


class JiraSlotRow(SQLModel, table=True):
    """One request in flight to a site: slot numbers 0..N-1 make the bound; a lease that
    ends frees the slot of a worker that died holding it."""

    __tablename__ = "jira_slots"

    site: str = Field(max_length=255, primary_key=True)
    slot: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    holder: str = Field(max_length=64)
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))


class AdminLinkRow(SQLModel, table=True):
    """A sign-in link `connector admin-link` printed (connector.sites.signin): by the hash of
    its id, so the database never holds a usable link; `used_at` makes it single-use."""

    __tablename__ = "admin_links"

    id_hash: str = Field(primary_key=True, max_length=64)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class AdminSessionRow(SQLModel, table=True):
    """A browser session opened with a sign-in link: by the hash of its cookie value, and
    when it was last used (idle timeout). Its CSRF token is derived from the cookie value."""

    __tablename__ = "admin_sessions"

    id_hash: str = Field(primary_key=True, max_length=64)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    account_id: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    last_seen_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
