"""Sites connected without an app install (`connector site add`): tenants of their own kind.

Such a tenant is keyed by `site:<its URL>`, so adding the same site again updates its token
instead of making a second tenant; removing it keeps everything it owns, as an uninstall
does, and adding it again resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, true
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.storage.models import TenantRow
from connector.storage.secrets import SecretBox
from connector.storage.times import as_utc_or_none, utc_now
from connector.tenant import SiteAccess

SITE_KEY_PREFIX = "site:"


def site_client_key(url: str) -> str:
    return SITE_KEY_PREFIX + url.rstrip("/")


@dataclass(frozen=True)
class NewSite:
    """What `connector site add` learnt about a site whose credentials it checked."""

    url: str
    access: SiteAccess
    product_type: str  # "jira"
    description: str  # the server title, for the list
    server_version: str


@dataclass(frozen=True)
class SiteSummary:
    tenant_id: int
    url: str
    kind: str
    account: str  # the email, or the account id of a personal access token
    installed: bool
    enabled: bool


class SiteRepository:
    def __init__(self, engine: Engine, secrets: SecretBox, *, app_key: str) -> None:
        self._engine = engine
        self._secrets = secrets
        self._app_key = app_key

    def save(self, site: NewSite) -> tuple[int, bool]:
        """Store the site (again: a new token, or back after a removal); (tenant id, created)."""
        key = site_client_key(site.url)
        if site.access.token is None:
            raise ValueError("a site is saved with its token")
        token = self._secrets.encrypt(site.access.token)
        with Session(self._engine) as session:
            row = session.exec(select(TenantRow).where(TenantRow.client_key == key)).first()
            created = row is None
            if row is None:
                row = TenantRow(
                    client_key=key,
                    app_key=self._app_key,
                    base_url=site.url,
                    display_url=site.url,
                    product_type=site.product_type,
                )
            row.description = site.description[:1024]
            row.server_version = site.server_version[:64]
            row.site_kind = site.access.kind
            row.site_email = site.access.email
            row.site_account_id = site.access.account_id
            row.site_token_encrypted = token
            row.installed = True
            row.enabled = True
            row.uninstalled_at = None
            row.updated_at = utc_now()
            session.add(row)
            session.commit()
            session.refresh(row)
            if row.id is None:
                raise LookupError("tenant row has no id after commit")
            return row.id, created

    def summaries(self) -> list[SiteSummary]:
        with Session(self._engine) as session:
            rows = session.exec(
                select(TenantRow)
                .where(col(TenantRow.site_kind).is_not(None))
                .order_by(col(TenantRow.base_url))
            ).all()
            return [
                SiteSummary(
                    tenant_id=row.id or 0,
                    url=row.base_url,
                    kind=row.site_kind or "",
                    account=row.site_email or row.site_account_id or "",
                    installed=row.installed,
                    enabled=row.enabled,
                )
                for row in rows
            ]

    def tenant_id(self, url: str) -> int | None:
        """The tenant of a connected site (removed or not), by its URL."""
        with Session(self._engine) as session:
            row = session.exec(
                select(TenantRow).where(TenantRow.client_key == site_client_key(url))
            ).first()
            return None if row is None else row.id

    def due_for_changes(self, read_before: datetime) -> list[int]:
        """Active sites whose changes were last read before `read_before` (or never)."""
        with Session(self._engine) as session:
            statement = (
                select(TenantRow.id)
                .where(col(TenantRow.site_kind).is_not(None))
                .where(TenantRow.installed == true(), TenantRow.enabled == true())
                .where(
                    or_(
                        col(TenantRow.changes_read_until).is_(None),
                        col(TenantRow.changes_read_until) < read_before,
                    )
                )
            )
            return [int(found) for found in session.exec(statement).all() if found is not None]

    def changes_read_until(self, tenant_id: int) -> datetime | None:
        with Session(self._engine) as session:
            row = session.get(TenantRow, tenant_id)
            return None if row is None else as_utc_or_none(row.changes_read_until)

    def set_changes_read_until(self, tenant_id: int, until: datetime) -> None:
        with Session(self._engine) as session:
            row = session.get(TenantRow, tenant_id)
            if row is None:
                return
            row.changes_read_until = until
            session.add(row)
            session.commit()

    def remove(self, url: str) -> bool:
        """Stop acting for the site and forget its token; nothing it owns is deleted (adding
        the site again resumes). False when it is unknown."""
        with Session(self._engine) as session:
            row = session.exec(
                select(TenantRow).where(TenantRow.client_key == site_client_key(url))
            ).first()
            if row is None:
                return False
            row.installed = False
            row.enabled = False
            row.site_token_encrypted = None
            row.uninstalled_at = utc_now()
            row.updated_at = row.uninstalled_at
            session.add(row)
            session.commit()
            return True
