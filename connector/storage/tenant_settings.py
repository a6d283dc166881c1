"""Per-site settings: which custom fields receive what mail tells us, and the workaround user.

The custom-field mapping names a Jira field id per role (`ROLES`): where the pipeline writes a
sender's name and address when they have no Jira account, the Cc recipients, and the source's
language. The workaround user is an Atlassian account (email + API token) whose credentials
find Jira users by address where the app itself may not see email addresses
(developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-user-search/: addresses are
shown only per the user's profile visibility and the caller's permissions).

The API token is encrypted at rest with the runtime's `SecretBox` and is write-only: readers
get `WorkaroundStatus` (address, and whether a token is stored); only the worker and the
settings test action get the token itself, as `WorkaroundUser`, whose `repr` hides it.
Every method takes the tenant id, so one site never reads or changes another's settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.resources.tenant_settings import ROLES
from connector.storage.models import TenantSettingsRow
from connector.storage.secrets import SecretBox
from connector.storage.times import utc_now

__all__ = ["ROLES", "TenantSettingsRepository", "WorkaroundStatus", "WorkaroundUser"]


@dataclass(frozen=True)
class WorkaroundStatus:
    """What the admin API may say about the workaround user: never the token."""

    email: str | None
    has_token: bool


@dataclass(frozen=True)
class WorkaroundUser:
    email: str
    api_token: str = field(repr=False)


class TenantSettingsRepository:
    def __init__(self, engine: Engine, secrets: SecretBox) -> None:
        self._engine = engine
        self._secrets = secrets

    # -- custom-field mapping ------------------------------------------------------------

    def field_mapping(self, tenant_id: int) -> dict[str, str | None]:
        """Role -> field id (None when unmapped), for every role."""
        with Session(self._engine) as session:
            row = _find(session, tenant_id)
            stored = _read_mapping(row.field_mapping) if row else {}
        return {role: stored.get(role) for role in ROLES}

    def set_field_mapping(
        self, tenant_id: int, mapping: Mapping[str, str | None]
    ) -> dict[str, str | None]:
        """Replace the mapping; roles left out become unmapped. Unknown roles are a bug in
        the caller (the API validates them), so they raise."""
        unknown = set(mapping) - set(ROLES)
        if unknown:
            raise ValueError(f"not custom-field roles: {sorted(unknown)}")
        kept = {role: mapping[role] for role in ROLES if mapping.get(role)}
        with Session(self._engine) as session:
            row = _find(session, tenant_id) or TenantSettingsRow(tenant_id=tenant_id)
            row.field_mapping = json.dumps(kept, sort_keys=True)
            row.updated_at = utc_now()
            session.add(row)
            session.commit()
        return {role: kept.get(role) for role in ROLES}

    def map_field(self, tenant_id: int, role: str, field_id: str) -> dict[str, str | None]:
        """Map one role, keeping the others."""
        mapping = self.field_mapping(tenant_id)
        mapping[role] = field_id
        return self.set_field_mapping(tenant_id, mapping)

    # -- workaround user -----------------------------------------------------------------

    def workaround_status(self, tenant_id: int) -> WorkaroundStatus:
        with Session(self._engine) as session:
            row = _find(session, tenant_id)
            if row is None:
                return WorkaroundStatus(None, False)
            return WorkaroundStatus(row.workaround_email, bool(row.workaround_token_encrypted))

    def workaround_user(self, tenant_id: int) -> WorkaroundUser | None:
        """The credentials, decrypted; None unless both address and token are stored."""
        with Session(self._engine) as session:
            row = _find(session, tenant_id)
            if row is None or not row.workaround_email or not row.workaround_token_encrypted:
                return None
            token = self._secrets.decrypt(row.workaround_token_encrypted)
            return WorkaroundUser(row.workaround_email, token)

    def set_workaround_user(
        self, tenant_id: int, email: str, api_token: str | None
    ) -> WorkaroundStatus:
        """Store the address and, when given, the token; `api_token=None` keeps the stored one
        (the token is write-only, so a form never has it to send back)."""
        with Session(self._engine) as session:
            row = _find(session, tenant_id) or TenantSettingsRow(tenant_id=tenant_id)
            row.workaround_email = email
            if api_token is not None:
                row.workaround_token_encrypted = self._secrets.encrypt(api_token)
            row.updated_at = utc_now()
            session.add(row)
            session.commit()
            return WorkaroundStatus(row.workaround_email, bool(row.workaround_token_encrypted))

    def clear_workaround_user(self, tenant_id: int) -> None:
        with Session(self._engine) as session:
            row = _find(session, tenant_id)
            if row is None:
                return
            row.workaround_email = None
            row.workaround_token_encrypted = None
            row.updated_at = utc_now()
            session.add(row)
            session.commit()


def _find(session: Session, tenant_id: int) -> TenantSettingsRow | None:
    statement = select(TenantSettingsRow).where(TenantSettingsRow.tenant_id == tenant_id)
    return session.exec(statement).first()


def _read_mapping(text: str) -> dict[str, str]:
    """The stored JSON, tolerating a hand-edited or empty value: a broken mapping must not
    stop mail, it only leaves the roles unmapped."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if k in ROLES and isinstance(v, str) and v}
