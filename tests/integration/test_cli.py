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

from connector.storage.db import MIGRATIONS_DIR

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
    head = sorted(p.name for p in MIGRATIONS_DIR.joinpath("versions").glob("0*.py"))[-1][:4]
    assert f"database at revision {head}" in result.stdout


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


REPLY_MAIL = (
    b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jurgen@example.com>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: Re: [SUP-12] Printer on fire\r\n"
    b"Message-ID: <reply-1@example.com>\r\n"
    b"In-Reply-To: <issue-SUP-12@connector.example>\r\n"
    b"Date: Sat, 21 Nov 2026 10:00:00 +0100\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"It is out now, thanks.\r\n"
    b"\r\n"
    b"On Fri, 20 Nov 2026 at 09:00, Support <support@example.com> wrote:\r\n"
    b"> Is the printer still on fire?\r\n"
)


def test_cli_preview_prints_sender_reply_and_classification(tmp_path: Path) -> None:
    message = tmp_path / "reply.eml"
    message.write_bytes(REPLY_MAIL)
    result = _connector("preview", str(message), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "From:           Jürgen Müller <jurgen@example.com>" in result.stdout
    assert "To:             support@example.com" in result.stdout
    assert "Classification: human" in result.stdout
    # Without a source, the first line says how to learn the outcome and route.
    assert result.stdout.startswith("Outcome:        --source ID shows the route")
    reply_section = result.stdout.split("Comment on its issue (quote removed):")[1]
    assert "It is out now, thanks." in reply_section
    assert "still on fire" not in reply_section
    # Each text once, and no ADF JSON unless asked for.
    assert result.stdout.count("It is out now, thanks.") == 2  # description and comment
    assert '"type"' not in result.stdout
    # No side effects: preview creates no data folder and needs no settings.
    assert not (tmp_path / "data").exists()


def test_cli_preview_adf_only_when_asked(tmp_path: Path) -> None:
    import json

    message = tmp_path / "reply.eml"
    message.write_bytes(REPLY_MAIL.replace(b"Subject:", b"Cc: Boss <boss@example.com>\r\nSubject:"))
    plain = _connector("preview", str(message), cwd=tmp_path)
    assert "Cc:             Boss <boss@example.com>" in plain.stdout
    result = _connector("preview", str(message), "--adf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "as ADF" not in plain.stdout
    assert result.stdout.count(" as ADF:") == 2  # the description's and the comment's
    adf = result.stdout.split("Comment on its issue as ADF:\n")[1]
    assert json.loads(adf)["type"] == "doc"


def test_cli_preview_json_has_the_adf_and_threading(tmp_path: Path) -> None:
    import json

    message = tmp_path / "reply.eml"
    message.write_bytes(REPLY_MAIL)
    result = _connector("preview", str(message), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["in_reply_to"] == ["issue-SUP-12@connector.example"]
    assert data["classification"]["kind"] == "human"
    assert data["reply"]["adf"]["type"] == "doc"
    assert data["reply"]["quote_found"] is True


def test_cli_preview_missing_file_exits_2(tmp_path: Path) -> None:
    result = _connector("preview", str(tmp_path / "nope.eml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_cli_preview_not_an_email_exits_1_with_reason(tmp_path: Path) -> None:
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"")
    result = _connector("preview", str(junk), cwd=tmp_path)
    assert result.returncode == 1
    assert "is not an email" in result.stderr


def test_cli_preview_shows_the_sender_check_offline(tmp_path: Path) -> None:
    import json

    from tests import dkim_keys

    message = tmp_path / "signed.eml"
    message.write_bytes(dkim_keys.sign(dkim_keys.message()))
    result = _connector("preview", str(message), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # Offline by default: the key is not looked up, so the signature cannot count.
    line = next(x for x in result.stdout.splitlines() if x.startswith("Sender:"))
    assert "sender not verified: the signer's DKIM key could not be fetched" in line
    result = _connector("preview", str(message), "--json", cwd=tmp_path)
    check = json.loads(result.stdout)["sender_verification"]
    assert check["verified"] is False
    assert check["reason"] == "key_unavailable"
    assert check["domain"] == "example.com"

    unsigned = tmp_path / "reply.eml"
    unsigned.write_bytes(REPLY_MAIL)
    result = _connector("preview", str(unsigned), cwd=tmp_path)
    assert "Sender:         sender not verified: the message has no DKIM signature" in (
        result.stdout
    )
