"""How a mail source is kept in its `MailSourceRow`, and read back as a `MailSource`.

Settings marked `column` in `connector.resources.mail_source` keep columns of their own; the
lists, policy and address rules are JSON text; the password and the OAuth state are secrets
(`SecretBox`), of which only whether they are there shows in a `MailSource`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from sqlalchemy.sql import Select
from sqlmodel import Session, col

from connector.mail_source import MailSource, SourcePolicy, SourceSpec
from connector.resources.declare import stored_as
from connector.resources.mail_source import SETTINGS as SOURCE_SETTINGS
from connector.routing.addresses import rules_from_json
from connector.storage.models import MailSourceRow, TenantRow
from connector.storage.secrets import SecretBox, SecretDecryptionError
from connector.storage.times import as_utc, as_utc_or_none

S = TypeVar("S", bound=Select[Any])


def of_active_tenants(statement: S) -> S:
    """`statement`, over mail sources, kept to the sources of installed, enabled tenants:
    the only ones a worker polls or watches."""
    return statement.join(TenantRow, col(TenantRow.id) == col(MailSourceRow.tenant_id)).where(
        col(TenantRow.installed).is_(True), col(TenantRow.enabled).is_(True)
    )


# The settings kept as they are in columns of their own; the rest are JSON text or a secret.
_SPEC_COLUMNS = stored_as(SOURCE_SETTINGS, "column")


def source_from_row(session: Session, row: MailSourceRow, secrets: SecretBox) -> MailSource:
    """The source a row holds, with its tenant's client key."""
    tenant = session.get(TenantRow, row.tenant_id)
    spec = SourceSpec(
        **{name: getattr(row, name) for name in _SPEC_COLUMNS},
        exclusion_folders=tuple(json.loads(row.exclusion_folders)),
        policy=SourcePolicy.from_json(json.loads(row.policy)),
        address_rules=rules_from_json(json.loads(row.address_rules or "[]"), stored=True),
        plus_projects=tuple(json.loads(row.plus_projects or "[]")),
        uses_oauth=_oauth_connected(secrets, row.oauth_encrypted),
    )
    return MailSource(
        id=row_id(row),
        tenant_id=row.tenant_id,
        client_key=tenant.client_key if tenant else "",
        spec=spec,
        has_password=row.password_encrypted is not None,
        enabled=row.enabled,
        status=row.status,
        status_message=row.status_message,
        status_at=as_utc_or_none(row.status_at),
        cursor=row.cursor,
        first_connected_at=as_utc_or_none(row.first_connected_at),
        consecutive_failures=row.consecutive_failures,
        next_poll_at=as_utc_or_none(row.next_poll_at),
        last_poll_at=as_utc_or_none(row.last_poll_at),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        receives=row.receives,
    )


def _oauth_connected(secrets: SecretBox, encrypted: str | None) -> bool:
    """Signed in (tokens stored), not merely a sign-in started and not finished."""
    if encrypted is None:
        return False
    try:
        return oauth_json(secrets.decrypt(encrypted)).get("tokens") is not None
    except (SecretDecryptionError, ValueError):
        return True  # something is stored; polling will say what is wrong with it


def oauth_json(plaintext: str) -> dict[str, Any]:
    """The decrypted OAuth state as the JSON object it must be."""
    data = json.loads(plaintext)
    if not isinstance(data, dict):
        raise ValueError("the stored OAuth state is not a JSON object")
    return data


def spec_values(spec: SourceSpec) -> dict[str, object]:
    """The row's values for a spec's settings (the password is the caller's to encrypt)."""
    values: dict[str, object] = {name: getattr(spec, name) for name in _SPEC_COLUMNS}
    values["exclusion_folders"] = json.dumps(list(spec.exclusion_folders))
    values["policy"] = json.dumps(spec.policy.to_json())
    values["address_rules"] = json.dumps([rule.to_json() for rule in spec.address_rules])
    values["plus_projects"] = json.dumps(list(spec.plus_projects))
    return values


def row_id(row: MailSourceRow) -> int:
    if row.id is None:
        raise LookupError("source row has no id yet")
    return row.id
