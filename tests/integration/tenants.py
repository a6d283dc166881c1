"""Install payloads for tests that store a tenant directly, without the lifecycle call."""

from __future__ import annotations

from typing import Any

from connector.mail_source import MailSource, SourceSpec
from connector.storage.db import Engine
from connector.storage.secrets import SecretBox
from connector.storage.sources import SourceRepository
from connector.storage.tenants import TenantRepository
from connector.tenant import InstallPayload, Tenant

SHARED_SECRET = "shared-secret-" + "x" * 40


def install_payload(
    client_key: str,
    *,
    shared_secret: str = SHARED_SECRET,
    oauth_client_id: str | None = None,
) -> InstallPayload:
    """What Jira would send for `jira:<site>`: the site at `https://<site>.atlassian.net`."""
    site = f"https://{client_key.rpartition(':')[2]}.atlassian.net"
    return InstallPayload(
        key="mail-connector",
        client_key=client_key,
        shared_secret=shared_secret,
        base_url=site,
        display_url=site,
        product_type="jira",
        description="Jira",
        server_version="100",
        plugins_version="1.0",
        oauth_client_id=oauth_client_id,
    )


def stored_helpdesk(
    engine: Engine, secrets: SecretBox, client_key: str, **spec: Any
) -> tuple[Tenant, MailSource]:
    """A tenant installed as `client_key` and its IMAP source "Helpdesk" into SUP, with
    `spec` changing or adding to the source's fields."""
    tenant, _ = TenantRepository(engine, secrets).save_install(install_payload(client_key))
    fields: dict[str, Any] = {
        "name": "Helpdesk",
        "protocol": "imap",
        "host": "imap.example.com",
        "port": 993,
        "username": "helpdesk@mail.example.com",
        "project_key": "SUP",
        "issue_type": "Task",
        **spec,
    }
    return tenant, SourceRepository(engine, secrets).create(tenant.id, SourceSpec(**fields))
