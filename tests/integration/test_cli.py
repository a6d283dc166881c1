"""The `connector` command as a user runs it (Quick start: `connector serve` on SQLite)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"BASE_URL", "DATABASE_URL", "ENCRYPTION_KEY", "APP_KEY", "PORT"}
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def _connector(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_serve_fresh_folder_starts_on_sqlite_and_prints_descriptor(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "serve", "--host", "127.0.0.1"],
        cwd=tmp_path,
        env=_env(PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None and health.status_code == 200
        descriptor = httpx.get(f"http://127.0.0.1:{port}/atlassian-connect.json").json()
        assert descriptor["baseUrl"] == f"http://localhost:{port}"
        assert (tmp_path / "data" / "connector.db").exists()
        assert (tmp_path / "data" / "encryption.key").exists()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert f"http://localhost:{port}/atlassian-connect.json" in output


def test_cli_migrate_reports_revision(tmp_path: Path) -> None:
    result = _connector("migrate", cwd=tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 0, result.stderr
    assert "database at revision 0001" in result.stdout


def test_cli_bad_setting_exits_2_with_message(tmp_path: Path) -> None:
    result = _connector("migrate", cwd=tmp_path, PORT="eighty")
    assert result.returncode == 2
    assert "configuration error: PORT must be a number" in result.stderr


def test_cli_generate_key_prints_a_fernet_key(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    result = _connector("generate-key", cwd=tmp_path)
    assert result.returncode == 0
    Fernet(result.stdout.strip().encode())


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
def test_cli_public_base_url_without_key_refuses_to_start(tmp_path: Path, command: str) -> None:
    result = _connector(command, cwd=tmp_path, BASE_URL="https://mail.example.com")
    assert result.returncode == 2
    assert "ENCRYPTION_KEY is required" in result.stderr
