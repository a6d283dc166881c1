"""Settings from the environment (connector/settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connector.mail.limits import AttachmentLimits
from connector.settings import Settings, SettingsError


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(env, key_file=tmp_path / "data" / "encryption.key")


def test_settings_empty_environment_uses_documented_defaults(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.port == 8000
    assert settings.base_url == "http://localhost:8000"
    assert settings.database_url == "sqlite:///./data/connector.db"
    assert settings.connect_install_keys_url == "https://connect-install-keys.atlassian.com"
    assert settings.app_key == "mail-connector"
    assert not settings.is_production


def test_settings_base_url_default_follows_port(tmp_path: Path) -> None:
    assert _settings(tmp_path, PORT="9123").base_url == "http://localhost:9123"


def test_settings_development_key_is_generated_once_and_reused(tmp_path: Path) -> None:
    first = _settings(tmp_path).encryption_keys
    second = _settings(tmp_path).encryption_keys
    assert first == second
    key_file = tmp_path / "data" / "encryption.key"
    assert key_file.read_text().strip() == first[0]
    assert key_file.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("port", ["abc", "0", "70000", "-1"])
def test_settings_bad_port_names_the_variable(tmp_path: Path, port: str) -> None:
    with pytest.raises(SettingsError, match="PORT"):
        _settings(tmp_path, PORT=port)


@pytest.mark.parametrize("url", ["example.com", "ftp://example.com", "https://", "http://x/?a=1"])
def test_settings_bad_base_url_names_the_variable(tmp_path: Path, url: str) -> None:
    with pytest.raises(SettingsError, match="BASE_URL"):
        _settings(tmp_path, BASE_URL=url)


def test_settings_base_url_trailing_slash_is_removed(tmp_path: Path) -> None:
    settings = _settings(tmp_path, BASE_URL="http://localhost:8000/connector/")
    assert settings.base_url == "http://localhost:8000/connector"
    assert settings.base_path == "/connector"


def test_settings_public_base_url_without_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ENCRYPTION_KEY is required"):
        _settings(tmp_path, BASE_URL="https://mail.example.com")
    assert not (tmp_path / "data" / "encryption.key").exists()


def test_settings_public_base_url_with_key_is_production(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = _settings(tmp_path, BASE_URL="https://mail.example.com", ENCRYPTION_KEY=key)
    assert settings.is_production
    assert settings.encryption_keys == (key,)


def test_settings_several_keys_are_kept_in_order(tmp_path: Path) -> None:
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = _settings(tmp_path, ENCRYPTION_KEY=f"{new}, {old}")
    assert settings.encryption_keys == (new, old)


def test_settings_bad_encryption_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ENCRYPTION_KEY entry 1") as raised:
        _settings(tmp_path, ENCRYPTION_KEY="not-a-fernet-key-secret-value")
    assert "not-a-fernet-key-secret-value" not in str(raised.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/x", "postgresql+psycopg://u:p@db:5432/x"),
        ("postgresql://u@db/x", "postgresql+psycopg://u@db/x"),
        ("postgresql+psycopg://u@db/x", "postgresql+psycopg://u@db/x"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_settings_database_url_is_normalised(tmp_path: Path, given: str, expected: str) -> None:
    assert _settings(tmp_path, DATABASE_URL=given).database_url == expected


def test_settings_unsupported_database_is_refused_without_password(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL") as raised:
        _settings(tmp_path, DATABASE_URL="mysql://user:hunter2@db/x")
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("key", ["has space", "slash/key", "x" * 81])
def test_settings_bad_app_key_is_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(SettingsError, match="APP_KEY"):
        _settings(tmp_path, APP_KEY=key)


def test_settings_repr_does_not_show_keys(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    assert key not in repr(_settings(tmp_path, ENCRYPTION_KEY=key))


def test_settings_attachment_limits_default_and_from_environment(tmp_path: Path) -> None:
    assert _settings(tmp_path).reading.attachments == AttachmentLimits(100, 50 * 1024 * 1024)
    reading = _settings(tmp_path, MAX_ATTACHMENTS="0", MAX_ATTACHMENT_BYTES="1048576").reading
    assert reading.attachments == AttachmentLimits(count=0, total_bytes=1048576)


@pytest.mark.parametrize(
    ("name", "value", "span"),
    [
        ("MAX_ATTACHMENTS", "many", "0 to 10000"),
        ("MAX_ATTACHMENTS", "-1", "0 to 10000"),
        ("MAX_ATTACHMENT_BYTES", "1e12", "0 to 68719476736"),
    ],
)
def test_settings_bad_attachment_limit_names_the_variable(
    tmp_path: Path, name: str, value: str, span: str
) -> None:
    with pytest.raises(SettingsError, match=f"{name} must be a number from {span}"):
        _settings(tmp_path, **{name: value})


def test_public_base_url_must_be_https(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="BASE_URL must be https when it is not loopback"):
        _settings(tmp_path, BASE_URL="http://mail.example.com")
    # Loopback may stay plain http: that is a developer's machine.
    assert _settings(tmp_path, BASE_URL="http://127.0.0.1:9000").base_url.startswith("http://")


def test_settings_worker_concurrency_default_and_from_environment(tmp_path: Path) -> None:
    assert _settings(tmp_path).worker_concurrency == 32
    assert _settings(tmp_path, WORKER_CONCURRENCY=" 8 ").worker_concurrency == 8


@pytest.mark.parametrize("value", ["0", "-4", "257", "2.5", "many"])
def test_settings_bad_worker_concurrency_names_the_variable_and_the_range(
    tmp_path: Path, value: str
) -> None:
    expected = f"WORKER_CONCURRENCY must be a whole number from 1 to 256, not '{value}'"
    with pytest.raises(SettingsError) as raised:
        _settings(tmp_path, WORKER_CONCURRENCY=value)
    assert str(raised.value) == expected
