"""Storage on SQLite and PostgreSQL: migrations, tenants, secrets at rest."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import connector.storage.models  # noqa: F401  (registers the tables)
from connector.storage.db import alembic_config, current_revision, make_engine, migrate, ours
from connector.storage.secrets import SecretBox, SecretDecryptionError
from connector.storage.tenants import TenantRepository
from connector.tenant import InstallPayload
from tests.integration.tenants import install_payload

SECRET = "shared-secret-ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789"


def _payload(
    secret: str = SECRET, client_key: str = "jira:site-1", oauth_client_id: str | None = None
) -> InstallPayload:
    return install_payload(client_key, shared_secret=secret, oauth_client_id=oauth_client_id)


def _head(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def test_migrate_empty_database_reaches_head_and_matches_models(migrated_engine: Engine) -> None:
    assert current_revision(migrated_engine) == _head(migrated_engine)
    assert _head(migrated_engine) is not None
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": ours})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_migrate_twice_is_harmless(migrated_engine: Engine) -> None:
    migrate(migrated_engine)
    assert current_revision(migrated_engine) == _head(migrated_engine)


def test_tenant_install_stores_secret_encrypted(
    migrated_engine: Engine, encryption_key: str
) -> None:
    tenants = TenantRepository(migrated_engine, SecretBox([encryption_key]))
    tenant, created = tenants.save_install(_payload())
    assert created
    assert tenant.shared_secret == SECRET
    with migrated_engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM tenants")).all()
    raw = repr(rows)
    assert "jira:site-1" in raw  # the dump is the real table, so absence below means something
    assert SECRET not in raw
    assert SECRET[:16] not in raw


def test_tenant_reinstall_rotates_secret(migrated_engine: Engine, encryption_key: str) -> None:
    tenants = TenantRepository(migrated_engine, SecretBox([encryption_key]))
    tenants.save_install(_payload())
    tenants.mark_uninstalled("jira:site-1")
    tenant, created = tenants.save_install(_payload(secret=SECRET + "-rotated"))
    assert not created
    assert tenant.shared_secret == SECRET + "-rotated"
    assert tenant.installed and tenant.enabled


def test_tenant_oauth_client_id_stored_and_replaced_on_reinstall(
    migrated_engine: Engine, encryption_key: str
) -> None:
    tenants = TenantRepository(migrated_engine, SecretBox([encryption_key]))
    tenant, _ = tenants.save_install(_payload())
    assert tenant.oauth_client_id is None
    for client_id in ("client-1", "client-2"):
        tenants.save_install(_payload(oauth_client_id=client_id))
        found = tenants.get("jira:site-1")
        assert found is not None and found.oauth_client_id == client_id


def test_tenant_uninstall_keeps_row_and_disables(
    migrated_engine: Engine, encryption_key: str
) -> None:
    tenants = TenantRepository(migrated_engine, SecretBox([encryption_key]))
    tenants.save_install(_payload())
    uninstalled = tenants.mark_uninstalled("jira:site-1")
    assert uninstalled is not None
    assert not uninstalled.installed and not uninstalled.enabled
    kept = tenants.get("jira:site-1")
    assert kept is not None and kept.shared_secret == SECRET


def test_tenant_enable_disable_toggles(migrated_engine: Engine, encryption_key: str) -> None:
    tenants = TenantRepository(migrated_engine, SecretBox([encryption_key]))
    tenants.save_install(_payload())
    disabled = tenants.set_enabled("jira:site-1", False)
    assert disabled is not None and not disabled.active
    enabled = tenants.set_enabled("jira:site-1", True)
    assert enabled is not None and enabled.active
    assert tenants.set_enabled("jira:unknown", True) is None


def test_secret_box_old_key_still_decrypts_after_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox([old]).encrypt("s3cret")
    rotated_box = SecretBox([new, old])
    assert rotated_box.decrypt(token) == "s3cret"
    rotated = rotated_box.rotate(token)
    assert SecretBox([new]).decrypt(rotated) == "s3cret"


def test_secret_box_wrong_key_raises_clear_error() -> None:
    token = SecretBox([Fernet.generate_key().decode()]).encrypt("s3cret")
    other = SecretBox([Fernet.generate_key().decode()])
    try:
        other.decrypt(token)
    except SecretDecryptionError as exc:
        assert "ENCRYPTION_KEY" in str(exc)
    else:
        raise AssertionError("decrypting with the wrong key must fail")


def test_make_engine_sqlite_creates_parent_folder(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path)) / "nested" / "data"
    engine = make_engine(f"sqlite:///{folder / 'c.db'}")
    migrate(engine)
    assert (folder / "c.db").exists()
    engine.dispose()
