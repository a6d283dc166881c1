"""Tenant settings at rest (SQLite and PostgreSQL): the field mapping, and the workaround
user's API token encrypted, write-only, and per tenant."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from connector.storage.secrets import SecretBox
from connector.storage.tenant_settings import ROLES, TenantSettingsRepository, WorkaroundStatus
from connector.storage.tenants import TenantRepository
from tests.integration.tenants import install_payload

TOKEN = "ATATT3xFfGF0-very-secret-api-token"


def _install(tenants: TenantRepository, client_key: str) -> int:
    tenant, _ = tenants.save_install(install_payload(client_key))
    return tenant.id


@pytest.fixture
def repo(migrated_engine: Engine, encryption_key: str) -> TenantSettingsRepository:
    return TenantSettingsRepository(migrated_engine, SecretBox([encryption_key]))


@pytest.fixture
def tenant_ids(migrated_engine: Engine, encryption_key: str) -> tuple[int, int]:
    tenants = TenantRepository(migrated_engine, SecretBox([encryption_key]))
    return _install(tenants, "jira:site-a"), _install(tenants, "jira:site-b")


def test_field_mapping_unset_tenant_has_every_role_unmapped(
    repo: TenantSettingsRepository, tenant_ids: tuple[int, int]
) -> None:
    assert repo.field_mapping(tenant_ids[0]) == dict.fromkeys(ROLES)


def test_field_mapping_replaced_roles_left_out_become_unmapped(
    repo: TenantSettingsRepository, tenant_ids: tuple[int, int]
) -> None:
    first, second = tenant_ids
    repo.set_field_mapping(first, {"sender_name": "customfield_1", "language": "customfield_2"})
    saved = repo.set_field_mapping(first, {"sender_address": "customfield_3"})
    assert saved == {**dict.fromkeys(ROLES), "sender_address": "customfield_3"}
    assert repo.field_mapping(first) == saved
    assert repo.map_field(first, "recipients", "customfield_4")["sender_address"] == "customfield_3"
    assert repo.field_mapping(second) == dict.fromkeys(ROLES)


def test_field_mapping_unknown_role_raises(
    repo: TenantSettingsRepository, tenant_ids: tuple[int, int]
) -> None:
    with pytest.raises(ValueError, match="not custom-field roles"):
        repo.set_field_mapping(tenant_ids[0], {"reporter": "customfield_1"})


def test_workaround_token_encrypted_at_rest_and_hidden_from_status(
    repo: TenantSettingsRepository, tenant_ids: tuple[int, int], migrated_engine: Engine
) -> None:
    status = repo.set_workaround_user(tenant_ids[0], "bot@example.com", TOKEN)
    assert status == WorkaroundStatus("bot@example.com", True)
    with migrated_engine.connect() as connection:
        stored: str = connection.execute(
            text("SELECT workaround_token_encrypted FROM tenant_settings")
        ).scalar_one()
    assert TOKEN not in stored
    user = repo.workaround_user(tenant_ids[0])
    assert user is not None and user.api_token == TOKEN
    assert TOKEN not in repr(user)
    assert repo.workaround_user(tenant_ids[1]) is None


def test_workaround_token_omitted_keeps_stored_one(
    repo: TenantSettingsRepository, tenant_ids: tuple[int, int]
) -> None:
    repo.set_workaround_user(tenant_ids[0], "bot@example.com", TOKEN)
    repo.set_workaround_user(tenant_ids[0], "other-bot@example.com", None)
    user = repo.workaround_user(tenant_ids[0])
    assert user is not None
    assert (user.email, user.api_token) == ("other-bot@example.com", TOKEN)


def test_workaround_cleared_keeps_field_mapping(
    repo: TenantSettingsRepository, tenant_ids: tuple[int, int]
) -> None:
    repo.set_field_mapping(tenant_ids[0], {"sender_name": "customfield_1"})
    repo.set_workaround_user(tenant_ids[0], "bot@example.com", TOKEN)
    repo.clear_workaround_user(tenant_ids[0])
    assert repo.workaround_status(tenant_ids[0]) == WorkaroundStatus(None, False)
    assert repo.workaround_user(tenant_ids[0]) is None
    assert repo.field_mapping(tenant_ids[0])["sender_name"] == "customfield_1"
