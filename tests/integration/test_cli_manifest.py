"""`connector manifest`: the Forge manifest for this deployment, as a user runs the command."""

from __future__ import annotations

from pathlib import Path

import yaml

from descriptor.manifest import manifest_yaml
from tests.integration.test_cli import _connector

APP_ID = "ari:cloud:ecosystem::app/6f0d3c1e-2b4a-4c8e-9d7f-0a1b2c3d4e5f"
PUBLIC = {"BASE_URL": "https://mail.example.com", "APP_KEY": "mail-connector-staging"}


def test_cli_manifest_prints_yaml_without_database_or_key(tmp_path: Path) -> None:
    # A public BASE_URL and no ENCRYPTION_KEY: the manifest needs neither database nor key.
    result = _connector("manifest", cwd=tmp_path, FORGE_APP_ID=APP_ID, **PUBLIC)
    assert result.returncode == 0, result.stderr
    assert result.stdout == manifest_yaml(
        base_url="https://mail.example.com",
        app_key="mail-connector-staging",
        forge_app_id=APP_ID,
    )
    manifest = yaml.safe_load(result.stdout)
    assert manifest["app"]["connect"]["key"] == "mail-connector-staging"
    assert not (tmp_path / "data").exists()


def test_cli_manifest_output_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "manifest.yml"
    result = _connector(
        "manifest", "--output", str(target), cwd=tmp_path, FORGE_APP_ID=APP_ID, **PUBLIC
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert yaml.safe_load(target.read_text())["app"]["id"] == APP_ID


def test_cli_manifest_without_app_id_exits_2_naming_it(tmp_path: Path) -> None:
    result = _connector("manifest", cwd=tmp_path, FORGE_APP_ID="", **PUBLIC)
    assert result.returncode == 2
    assert "FORGE_APP_ID is not set" in result.stderr
    assert result.stdout == ""


def test_cli_manifest_bad_app_id_exits_2_naming_it(tmp_path: Path) -> None:
    result = _connector("manifest", cwd=tmp_path, FORGE_APP_ID="my-app", **PUBLIC)
    assert result.returncode == 2
    assert "FORGE_APP_ID must be" in result.stderr


def test_cli_manifest_unwritable_output_exits_2(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "manifest.yml"
    result = _connector(
        "manifest", "--output", str(target), cwd=tmp_path, FORGE_APP_ID=APP_ID, **PUBLIC
    )
    assert result.returncode == 2
    assert "cannot write" in result.stderr
