"""Forge installations: which tenant each one is, where its Jira answers, its system token.

An installation arrives two ways, in either order: the Connect `installed` callback of a
Connect-on-Forge app carries `installationId` (`connector.storage.tenants` links it to the
Connect tenant), and Forge's `avi:forge:installed:app` event names it in its invocation token
(`record` here). When the Forge event comes first, the installation becomes a tenant of its
own, with no Connect shared secret and the installation id as its key; a Connect install
naming the same installation later adopts that tenant, so what it owns stays with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.storage.models import ForgeInstallationRow, TenantRow
from connector.storage.secrets import SecretBox, SecretDecryptionError
from connector.storage.times import as_utc_or_none, utc_now
from connector.tenant import ForgeAccess

# What Forge-only tenants are, for the columns Connect fills from its install payload.
FORGE_PRODUCT_TYPE = "jira"


@dataclass(frozen=True)
class InstallationEvent:
    """What a verified Forge call says about its installation."""

    installation_id: str
    api_base_url: str
    cloud_id: str | None
    environment_type: str | None


class ForgeInstallationRepository:
    def __init__(self, engine: Engine, secrets: SecretBox, *, app_key: str) -> None:
        self._engine = engine
        self._secrets = secrets
        self._app_key = app_key

    def record(self, event: InstallationEvent) -> tuple[int, bool]:
        """Store the installation (again: Forge retries); returns (tenant id, tenant created)."""
        with Session(self._engine) as session:
            row = _find(session, event.installation_id)
            created = row is None
            if row is None:
                tenant = _forge_only_tenant(event, self._app_key)
                session.add(tenant)
                session.flush()
                if tenant.id is None:
                    raise LookupError("tenant row has no id after flush")
                row = ForgeInstallationRow(
                    installation_id=event.installation_id, tenant_id=tenant.id
                )
            else:
                owner = session.get(TenantRow, row.tenant_id)
                if owner is not None and owner.shared_secret_encrypted is None:
                    # A Forge-only tenant reaches Jira through the gateway URL Forge names.
                    owner.base_url = event.api_base_url
                    owner.installed = True
                    owner.enabled = True
                    owner.updated_at = utc_now()
                    session.add(owner)
            row.api_base_url = event.api_base_url
            row.cloud_id = event.cloud_id or row.cloud_id
            row.environment_type = event.environment_type or row.environment_type
            row.updated_at = utc_now()
            session.add(row)
            session.commit()
            return row.tenant_id, created

    def save_system_token(self, installation_id: str, token: str, expires_at: datetime) -> bool:
        """Keep the newest app system token of a known installation; False when unknown."""
        with Session(self._engine) as session:
            row = _find(session, installation_id)
            if row is None:
                return False
            row.system_token_encrypted = self._secrets.encrypt(token)
            row.token_expires_at = expires_at
            row.updated_at = utc_now()
            session.add(row)
            session.commit()
            return True

    def set_site_url(self, tenant_id: int, site_url: str) -> None:
        """The address a Forge-only tenant's site is shown with (Connect tenants have theirs
        from the install payload)."""
        with Session(self._engine) as session:
            tenant = session.get(TenantRow, tenant_id)
            if tenant is None or tenant.shared_secret_encrypted is not None:
                return
            tenant.display_url = site_url
            tenant.updated_at = utc_now()
            session.add(tenant)
            session.commit()

    def tenant_id(self, installation_id: str) -> int | None:
        with Session(self._engine) as session:
            row = _find(session, installation_id)
            return None if row is None else row.tenant_id


def forge_access(session: Session, secrets: SecretBox, tenant_id: int) -> ForgeAccess | None:
    """The tenant's Forge installation, if it has one (the newest, should there be more)."""
    statement = (
        select(ForgeInstallationRow)
        .where(ForgeInstallationRow.tenant_id == tenant_id)
        .order_by(ForgeInstallationRow.updated_at.desc())  # type: ignore[attr-defined]
    )
    row = session.exec(statement).first()
    if row is None:
        return None
    token = None
    if row.system_token_encrypted is not None:
        try:
            token = secrets.decrypt(row.system_token_encrypted)
        except SecretDecryptionError:
            token = None  # as if none was handed over: the next trigger brings a new one
    return ForgeAccess(
        installation_id=row.installation_id,
        api_base_url=row.api_base_url,
        system_token=token,
        token_expires_at=as_utc_or_none(row.token_expires_at),
    )


def adopt_forge_only(session: Session, installation_id: str) -> TenantRow | None:
    """The Forge-only tenant of an installation, for a Connect install naming it to take over."""
    row = _find(session, installation_id)
    if row is None:
        return None
    tenant = session.get(TenantRow, row.tenant_id)
    if tenant is None or tenant.shared_secret_encrypted is not None:
        return None
    return tenant


def link_installation(session: Session, tenant: TenantRow, installation_id: str) -> None:
    """Name `tenant` as the installation's tenant. A Forge-only tenant the installation had
    before (the Connect site was already a tenant of its own) is left uninstalled."""
    if tenant.id is None:
        raise LookupError("tenant row has no id yet")
    row = _find(session, installation_id)
    if row is None:
        row = ForgeInstallationRow(installation_id=installation_id, tenant_id=tenant.id)
    elif row.tenant_id != tenant.id:
        previous = session.get(TenantRow, row.tenant_id)
        if previous is not None and previous.shared_secret_encrypted is None:
            previous.installed = False
            previous.enabled = False
            previous.uninstalled_at = utc_now()
            session.add(previous)
        row.tenant_id = tenant.id
    row.updated_at = utc_now()
    session.add(row)


def _forge_only_tenant(event: InstallationEvent, app_key: str) -> TenantRow:
    return TenantRow(
        client_key=event.installation_id,
        app_key=app_key,
        base_url=event.api_base_url,
        display_url=event.api_base_url,
        product_type=FORGE_PRODUCT_TYPE,
        shared_secret_encrypted=None,
    )


def _find(session: Session, installation_id: str) -> ForgeInstallationRow | None:
    statement = select(ForgeInstallationRow).where(
        ForgeInstallationRow.installation_id == installation_id
    )
    return session.exec(statement).first()
