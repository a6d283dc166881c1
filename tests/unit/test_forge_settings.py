"""FORGE_APP_ID and FORGE_JWKS_URL (connector/settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connector.settings import (
    DEFAULT_FORGE_JWKS_URL,
    FORGE_APP_ID_MISSING,
    AppIdentity,
    Settings,
    SettingsError,
)

APP_ID = "ari:cloud:ecosystem::app/6f0d3c1e-2b4a-4c8e-9d7f-0a1b2c3d4e5f"


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(env, key_file=tmp_path / "data" / "encryption.key")


def test_forge_settings_default_no_app_id_and_production_jwks(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.forge_app_id is None
    assert settings.forge_jwks_url == DEFAULT_FORGE_JWKS_URL
    assert DEFAULT_FORGE_JWKS_URL == (
        "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
    )
    assert "FORGE_APP_ID" in FORGE_APP_ID_MISSING


def test_forge_settings_app_id_is_read_and_normalised(tmp_path: Path) -> None:
    assert _settings(tmp_path, FORGE_APP_ID=f" {APP_ID} ").forge_app_id == APP_ID
    assert _settings(tmp_path, FORGE_APP_ID=APP_ID.upper()).forge_app_id == APP_ID
    assert _settings(tmp_path, FORGE_APP_ID="").forge_app_id is None


@pytest.mark.parametrize(
    "value",
    [
        "6f0d3c1e-2b4a-4c8e-9d7f-0a1b2c3d4e5f",
        "ari:cloud:ecosystem::installation/6f0d3c1e-2b4a-4c8e-9d7f-0a1b2c3d4e5f",
        "ari:cloud:ecosystem::app/not-a-uuid",
        "ari:cloud:ecosystem::app/6f0d3c1e-2b4a-4c8e-9d7f-0a1b2c3d4e5f/extra",
        "mail-connector",
    ],
)
def test_forge_settings_app_id_of_wrong_shape_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="FORGE_APP_ID must be"):
        _settings(tmp_path, FORGE_APP_ID=value)


def test_forge_settings_jwks_url_is_read(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9999/.well-known/jwks.json"
    assert _settings(tmp_path, FORGE_JWKS_URL=url).forge_jwks_url == url
    with pytest.raises(SettingsError, match="FORGE_JWKS_URL"):
        _settings(tmp_path, FORGE_JWKS_URL="not a url")


def test_forge_settings_plain_http_jwks_refused_in_production(tmp_path: Path) -> None:
    public = {
        "BASE_URL": "https://mail.example.com",
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    with pytest.raises(SettingsError, match="FORGE_JWKS_URL must be https"):
        _settings(tmp_path, **public, FORGE_JWKS_URL="http://keys.example.com/jwks.json")
    assert _settings(tmp_path, **public).forge_jwks_url == DEFAULT_FORGE_JWKS_URL


def test_forge_settings_identity_needs_no_encryption_key() -> None:
    identity = AppIdentity.from_env(
        {"BASE_URL": "https://mail.example.com", "FORGE_APP_ID": APP_ID}
    )
    assert identity == AppIdentity("https://mail.example.com", "mail-connector", APP_ID)
    with pytest.raises(SettingsError, match="APP_KEY"):
        AppIdentity.from_env({"APP_KEY": "no spaces allowed"})
