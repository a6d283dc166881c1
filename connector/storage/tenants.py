"""Tenant repository: install, re-install, enable/disable, uninstall."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.storage.forge_installations import (
    adopt_forge_only,
    forge_access,
    link_installation,
)
from connector.storage.models import TenantRow
from connector.storage.secrets import SecretBox
from connector.storage.times import utc_now
from connector.tenant import InstallPayload, SiteAccess, Tenant


class TenantRepository:
    def __init__(self, engine: Engine, secrets: SecretBox) -> None:
        self._engine = engine
        self._secrets = secrets

    def get(self, client_key: str) -> Tenant | None:
        with Session(self._engine) as session:
            row = _find(session, client_key)
            return None if row is None else self._to_tenant(row, session)

    def by_id(self, tenant_id: int) -> Tenant | None:
        with Session(self._engine) as session:
            row = session.get(TenantRow, tenant_id)
            return None if row is None else self._to_tenant(row, session)

    def ids(self) -> list[int]:
        """Every tenant's id, installed or not (what it owns is kept after an uninstall)."""
        with Session(self._engine) as session:
            return [int(i) for i in session.exec(select(TenantRow.id)).all() if i is not None]

    def save_install(self, payload: InstallPayload) -> tuple[Tenant, bool]:
        """Store a new tenant or update one that re-installed; returns (tenant, created).

        A re-install brings a new shared secret (rotation) and re-activates a tenant that had
        uninstalled; what it owns was kept for exactly this moment. An install naming a Forge
        installation that is already a tenant of its own takes that tenant over.
        """
        with Session(self._engine) as session:
            row = _find(session, payload.client_key)
            if row is None and payload.installation_id is not None:
                row = adopt_forge_only(session, payload.installation_id)
            created = row is None
            if row is None:
                row = TenantRow(
                    client_key=payload.client_key,
                    app_key=payload.key,
                    base_url=payload.base_url,
                    display_url=payload.display_url,
                    product_type=payload.product_type,
                    shared_secret_encrypted=self._secrets.encrypt(payload.shared_secret),
                )
            row.client_key = payload.client_key
            row.app_key = payload.key
            row.base_url = payload.base_url
            row.display_url = payload.display_url
            row.product_type = payload.product_type
            row.description = payload.description
            row.server_version = payload.server_version
            row.plugins_version = payload.plugins_version
            row.oauth_client_id = payload.oauth_client_id
            row.shared_secret_encrypted = self._secrets.encrypt(payload.shared_secret)
            row.installed = True
            row.enabled = True
            row.uninstalled_at = None
            row.updated_at = utc_now()
            session.add(row)
            if payload.installation_id is not None:
                session.flush()
                link_installation(session, row, payload.installation_id)
            session.commit()
            session.refresh(row)
            return self._to_tenant(row, session), created

    def set_enabled(self, client_key: str, enabled: bool) -> Tenant | None:
        with Session(self._engine) as session:
            row = _find(session, client_key)
            if row is None:
                return None
            row.enabled = enabled
            row.updated_at = utc_now()
            session.add(row)
            session.commit()
            session.refresh(row)
            return self._to_tenant(row, session)

    def mark_uninstalled(self, client_key: str) -> Tenant | None:
        """Disable the tenant and everything it owns; nothing is deleted (re-install resumes)."""
        with Session(self._engine) as session:
            row = _find(session, client_key)
            if row is None:
                return None
            row.installed = False
            row.enabled = False
            row.uninstalled_at = utc_now()
            row.updated_at = row.uninstalled_at
            session.add(row)
            session.commit()
            session.refresh(row)
            return self._to_tenant(row, session)

    def _to_tenant(self, row: TenantRow, session: Session) -> Tenant:
        if row.id is None:
            raise LookupError("tenant row has no id yet")
        secret = row.shared_secret_encrypted
        return Tenant(
            id=row.id,
            client_key=row.client_key,
            base_url=row.base_url,
            display_url=row.display_url,
            product_type=row.product_type,
            shared_secret=None if secret is None else self._secrets.decrypt(secret),
            installed=row.installed,
            enabled=row.enabled,
            oauth_client_id=row.oauth_client_id,
            forge=forge_access(session, self._secrets, row.id),
            site=self._site_access(row),
        )

    def _site_access(self, row: TenantRow) -> SiteAccess | None:
        if row.site_kind is None:
            return None
        token = row.site_token_encrypted
        return SiteAccess(
            kind=row.site_kind,
            email=row.site_email,
            token=None if token is None else self._secrets.decrypt(token),
            account_id=row.site_account_id,
        )


def _find(session: Session, client_key: str) -> TenantRow | None:
    return session.exec(select(TenantRow).where(TenantRow.client_key == client_key)).first()
