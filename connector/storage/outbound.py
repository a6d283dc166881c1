"""Each tenant's outbound connection (password encrypted) and notification settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from connector.outbound_config import (
    ConnectionSpec,
    NotificationSettings,
    TemplateFault,
    settings_from_json,
)
from connector.storage.models import NotificationSettingsRow, OutboundConnectionRow
from connector.storage.secrets import SecretBox
from connector.storage.times import as_utc, as_utc_or_none, utc_now

KEEP = object()  # "leave the stored password as it is"


@dataclass(frozen=True)
class StoredConnection:
    spec: ConnectionSpec
    has_password: bool
    status: str
    status_message: str
    status_at: datetime | None
    updated_at: datetime


class OutboundRepository:
    def __init__(self, engine: Engine, secrets: SecretBox) -> None:
        self._engine = engine
        self._secrets = secrets

    # -- connection ----------------------------------------------------------------------

    def connection(self, tenant_id: int) -> StoredConnection | None:
        with Session(self._engine) as session:
            row = self._connection_row(session, tenant_id)
            return None if row is None else _stored(row)

    def save_connection(
        self, tenant_id: int, spec: ConnectionSpec, password: str | object | None = KEEP
    ) -> StoredConnection:
        """Replace the settings; `password` KEEP keeps the stored one, None removes it. A
        changed connection has not been used yet, so its status is unknown again."""
        for attempt in range(2):
            with Session(self._engine) as session:
                row = self._connection_row(session, tenant_id)
                if row is None:
                    row = OutboundConnectionRow(tenant_id=tenant_id)
                for name, value in spec.to_json().items():
                    setattr(row, name, value)
                if password is None:
                    row.password_encrypted = None
                elif isinstance(password, str):
                    row.password_encrypted = self._secrets.encrypt(password)
                row.status, row.status_message, row.status_at = "unknown", "", None
                row.updated_at = utc_now()
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:  # created by a concurrent request: update that one
                    if attempt:
                        raise
                    continue
                session.refresh(row)
                return _stored(row)
        raise AssertionError("unreachable")

    def password(self, tenant_id: int) -> str | None:
        with Session(self._engine) as session:
            row = self._connection_row(session, tenant_id)
            if row is None or row.password_encrypted is None:
                return None
            return self._secrets.decrypt(row.password_encrypted)

    def record_status(self, tenant_id: int, *, ok: bool, message: str) -> None:
        with Session(self._engine) as session:
            row = self._connection_row(session, tenant_id)
            if row is None:
                return
            row.status = "ok" if ok else "error"
            row.status_message = message
            row.status_at = utc_now()
            session.add(row)
            session.commit()

    # -- notification settings -----------------------------------------------------------

    def settings(self, tenant_id: int) -> NotificationSettings:
        """The stored settings, or the defaults when the tenant saved none. Read for every new
        issue (its acknowledgement), so through a Core statement built once."""
        with self._engine.connect() as connection:
            row = connection.execute(_SETTINGS, {"tenant_id": tenant_id}).first()
            if row is None:
                return NotificationSettings()
            settings = settings_from_json(
                {
                    "enabled": row.enabled,
                    "events": json.loads(row.events),
                    "projects": json.loads(row.projects),
                    "acknowledgement": row.acknowledgement,
                    "acknowledgement_per_hour": row.acknowledgement_per_hour,
                    "link": row.link,
                    "templates": json.loads(row.templates),
                    "retention_days": row.retention_days,
                }
            )
            if row.template_error:
                fault = TemplateFault.from_json(json.loads(row.template_error))
                settings = replace(settings, template_fault=fault)
            return settings

    def save_settings(self, tenant_id: int, settings: NotificationSettings) -> None:
        """Replace the settings. The admin saving them (templates they were shown checked
        again) turns custom templates that were off after a failure back on."""
        data = settings.to_json()
        for attempt in range(2):
            with Session(self._engine) as session:
                row = self._settings_row(session, tenant_id) or NotificationSettingsRow(
                    tenant_id=tenant_id
                )
                row.enabled = settings.enabled
                row.events = json.dumps(data["events"])
                row.projects = json.dumps(data["projects"])
                row.acknowledgement = settings.acknowledgement
                row.acknowledgement_per_hour = settings.acknowledgement_per_hour
                row.link = settings.link
                row.templates = json.dumps(data["templates"])
                row.template_error = None
                row.retention_days = settings.retention_days
                row.updated_at = utc_now()
                session.add(row)
                try:
                    session.commit()
                    return
                except IntegrityError:
                    if attempt:
                        raise

    def turn_off_templates(self, tenant_id: int, fault: TemplateFault) -> None:
        """Render this tenant's mail with the default templates until the settings are saved
        again; the first fault is kept (later ones only repeat it, from other workers)."""
        with Session(self._engine) as session:
            row = self._settings_row(session, tenant_id)
            if row is None or row.template_error:
                return
            row.template_error = json.dumps(fault.to_json())
            session.add(row)
            session.commit()

    def retention_days(self) -> dict[int, int]:
        """Tenant id -> retention days, for the tenants that changed the default."""
        with Session(self._engine) as session:
            rows = session.exec(select(NotificationSettingsRow)).all()
            return {row.tenant_id: row.retention_days for row in rows}

    # -- plumbing ------------------------------------------------------------------------

    @staticmethod
    def _connection_row(session: Session, tenant_id: int) -> OutboundConnectionRow | None:
        return session.exec(
            select(OutboundConnectionRow).where(OutboundConnectionRow.tenant_id == tenant_id)
        ).first()

    @staticmethod
    def _settings_row(session: Session, tenant_id: int) -> NotificationSettingsRow | None:
        return session.exec(
            select(NotificationSettingsRow).where(NotificationSettingsRow.tenant_id == tenant_id)
        ).first()


_SETTINGS_TABLE = NotificationSettingsRow.__table__  # type: ignore[attr-defined]
_SETTINGS = select(_SETTINGS_TABLE).where(_SETTINGS_TABLE.c.tenant_id == bindparam("tenant_id"))


def _stored(row: OutboundConnectionRow) -> StoredConnection:
    spec = ConnectionSpec(
        transport=row.transport,
        auth=row.auth,
        host=row.host,
        port=row.port,
        security=row.security,
        verify_tls=row.verify_tls,
        username=row.username,
        source_id=row.source_id,
        from_address=row.from_address,
        from_name=row.from_name,
        reply_to=row.reply_to,
        timeout_seconds=row.timeout_seconds,
        enabled=row.enabled,
    )
    return StoredConnection(
        spec=spec,
        has_password=row.password_encrypted is not None,
        status=row.status,
        status_message=row.status_message,
        status_at=as_utc_or_none(row.status_at),
        updated_at=as_utc(row.updated_at),
    )
