"""A tenant with one mail source and its email log, for tests that drive `Pipeline.process`
directly with a tracker of their own (no mailbox, no Jira server)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from connector.mail_source import MailSource, SourceSpec
from connector.storage.email_log import EmailLog
from connector.storage.secrets import SecretBox
from connector.storage.sources import SourceRepository
from connector.storage.tenants import TenantRepository
from tests.integration.tenants import install_payload


@dataclass(frozen=True)
class SupportSource:
    tenant_id: int
    source: MailSource
    email_log: EmailLog


def support_source(engine: Engine, encryption_key: str, client_key: str) -> SupportSource:
    """An installed tenant with a "Support" IMAP source creating SUP tasks."""
    secrets = SecretBox([encryption_key])
    tenant, _ = TenantRepository(engine, secrets).save_install(install_payload(client_key))
    spec = SourceSpec(
        name="Support",
        protocol="imap",
        host="imap.example.com",
        port=993,
        username="support@example.com",
        project_key="SUP",
        issue_type="Task",
    )
    source = SourceRepository(engine, secrets).create(tenant.id, spec)
    return SupportSource(tenant.id, source, EmailLog(engine, secrets))
