"""Start-up as an operator meets it: a bad DATABASE_URL, ENCRYPTION_KEY, BASE_URL or PORT
stops `connector` with one line naming the variable, before anything says it started; and
`connector rotate-key` moves every stored secret to the first key (issue 18)."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text
from sqlmodel import col

from connector.storage.db import make_engine, migrate
from connector.storage.email_log import EmailLog
from connector.storage.key_rotation import encrypted_columns
from connector.storage.models import TenantRow
from connector.storage.secrets import SecretBox
from connector.storage.sources import SourceRepository
from connector.storage.tenant_settings import TenantSettingsRepository
from connector.storage.tenants import TenantRepository
from tests.integration.tenants import SHARED_SECRET, stored_helpdesk
from tests.integration.test_cli import ROOT, _connector, _env, _free_port

MAIL = b"From: ann@customer.example\r\nSubject: Hello\r\n\r\nHi.\r\n"


def _one_line_error(result: subprocess.CompletedProcess[str], starts: str) -> str:
    """The run failed with exit 2 and said why in one line, last, without a traceback
    (INFO log lines before it, such as Alembic's, are no error)."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    said = [line for line in lines if line.startswith("configuration error: ")]
    assert said == lines[-1:], result.stderr
    assert said[0].startswith(f"configuration error: {starts}"), said[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not [line for line in lines if " ERROR " in line or " CRITICAL " in line]
    return said[0]


@pytest.fixture
def stored(tmp_path: Path) -> tuple[str, str]:
    """A SQLite database holding a secret of each kind, encrypted with the returned key."""
    key = Fernet.generate_key().decode("ascii")
    database_url = f"sqlite:///{tmp_path / 'connector.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    secrets = SecretBox([key])
    tenant, source = stored_helpdesk(engine, secrets, "jira:site-key", password="mailbox-password")
    TenantSettingsRepository(engine, secrets).set_workaround_user(
        tenant.id, "bot@example.com", "api-token"
    )
    log = EmailLog(engine, secrets)
    entry = log.begin(tenant.id, source.id, "uid-1", size=len(MAIL))
    log.describe(
        entry.id,
        message_id=None,
        digest=None,
        sender="ann@customer.example",
        sender_name="",
        subject="Hello",
        headers=[],
        raw=MAIL,
    )
    engine.dispose()
    return database_url, key


@pytest.mark.parametrize("command", ["migrate", "worker", "serve"])
def test_cli_wrong_encryption_key_stops_with_one_line_saying_what_to_do(
    tmp_path: Path, stored: tuple[str, str], command: str
) -> None:
    database_url, _ = stored
    other = Fernet.generate_key().decode("ascii")
    local = ["--host", "127.0.0.1"] if command == "serve" else []
    result = _connector(
        command,
        *local,
        cwd=tmp_path,
        DATABASE_URL=database_url,
        ENCRYPTION_KEY=other,
        PORT=str(_free_port()),
    )
    line = _one_line_error(result, "ENCRYPTION_KEY does not decrypt what is stored")
    assert "tenants.shared_secret_encrypted (1)" in line
    assert "email_log.raw_encrypted (1)" in line
    assert "ENCRYPTION_KEY=NEW,OLD" in line and "connector rotate-key" in line
    assert "Mail Connector for Jira on" not in result.stdout


def test_cli_rotate_key_reencrypts_everything_with_the_first_key(
    tmp_path: Path, stored: tuple[str, str]
) -> None:
    database_url, old = stored
    new = Fernet.generate_key().decode("ascii")
    result = _connector(
        "rotate-key", cwd=tmp_path, DATABASE_URL=database_url, ENCRYPTION_KEY=f"{new},{old}"
    )
    assert result.returncode == 0, result.stderr
    assert "tenants.shared_secret_encrypted: 1 re-encrypted" in result.stdout
    assert "mail_sources.password_encrypted: 1 re-encrypted" in result.stdout
    assert "tenant_settings.workaround_token_encrypted: 1 re-encrypted" in result.stdout
    assert "email_log.raw_encrypted: 1 re-encrypted" in result.stdout

    # The new key alone now starts, and reads every secret.
    result = _connector("migrate", cwd=tmp_path, DATABASE_URL=database_url, ENCRYPTION_KEY=new)
    assert result.returncode == 0, result.stderr
    engine = make_engine(database_url)
    secrets = SecretBox([new])
    tenant = TenantRepository(engine, secrets).get("jira:site-key")
    assert tenant is not None and tenant.shared_secret == SHARED_SECRET
    source = SourceRepository(engine, secrets).search(tenant.id)[0]
    assert SourceRepository(engine, secrets).password(source.id) == "mailbox-password"
    user = TenantSettingsRepository(engine, secrets).workaround_user(tenant.id)
    assert user is not None and user.api_token == "api-token"
    (entry,) = EmailLog(engine, secrets).search(tenant.id)
    assert EmailLog(engine, secrets).raw(tenant.id, entry.id) == MAIL
    # And the old key alone is refused.
    engine.dispose()
    result = _connector("migrate", cwd=tmp_path, DATABASE_URL=database_url, ENCRYPTION_KEY=old)
    _one_line_error(result, "ENCRYPTION_KEY does not decrypt")


def test_cli_rotate_key_without_the_old_key_changes_nothing(
    tmp_path: Path, stored: tuple[str, str]
) -> None:
    database_url, _ = stored
    engine = make_engine(database_url)
    with engine.connect() as connection:
        before = connection.scalars(select(col(TenantRow.shared_secret_encrypted))).all()
    new = Fernet.generate_key().decode("ascii")
    result = _connector("rotate-key", cwd=tmp_path, DATABASE_URL=database_url, ENCRYPTION_KEY=new)
    _one_line_error(result, "ENCRYPTION_KEY does not decrypt")
    with engine.connect() as connection:
        assert connection.scalars(select(col(TenantRow.shared_secret_encrypted))).all() == before
    engine.dispose()


def test_every_encrypted_column_is_checked_and_rotated() -> None:
    # Found on the metadata by their suffix: a new encrypted column needs no list to join.
    assert sorted(c.name for c in encrypted_columns()) == [
        "email_log.raw_encrypted",
        "forge_installations.system_token_encrypted",
        "mail_sources.oauth_encrypted",
        "mail_sources.password_encrypted",
        "outbound_connections.password_encrypted",
        "outbound_messages.raw_encrypted",
        "tenant_settings.workaround_token_encrypted",
        "tenants.shared_secret_encrypted",
        "tenants.site_token_encrypted",
    ]


@pytest.mark.parametrize(
    "database_url",
    [
        "postgresql://connector:s3cret-pw@127.0.0.1:1/connector",  # nothing listens on port 1
        "sqlite:///{tmp}/a-file/connector.db",  # its folder is a file
    ],
)
def test_cli_unusable_database_names_database_url_in_one_line(
    tmp_path: Path, database_url: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    url = database_url.replace("{tmp}", str(tmp_path))
    for command in ("migrate", "worker"):
        result = _connector(command, cwd=tmp_path, DATABASE_URL=url)
        line = _one_line_error(result, "DATABASE_URL")
        assert "s3cret-pw" not in line


def test_cli_missing_postgres_database_names_database_url(
    tmp_path: Path, postgres_url: str
) -> None:
    missing = postgres_url.rpartition("/")[0] + f"/missing_{uuid.uuid4().hex[:8]}"
    result = _connector("migrate", cwd=tmp_path, DATABASE_URL=missing)
    line = _one_line_error(result, "DATABASE_URL: cannot use the database at")
    assert "does not exist" in line


def test_cli_public_plain_http_base_url_is_refused(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode("ascii")
    result = _connector(
        "serve", cwd=tmp_path, BASE_URL="http://mail.example.com", ENCRYPTION_KEY=key
    )
    _one_line_error(result, "BASE_URL must be https when it is not loopback")


def test_cli_unknown_log_level_is_named(tmp_path: Path) -> None:
    result = _connector("migrate", cwd=tmp_path, LOG_LEVEL="loud")
    _one_line_error(result, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")


def test_cli_port_in_use_fails_before_claiming_to_start(tmp_path: Path) -> None:
    port = _free_port()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = _connector("serve", "--host", "127.0.0.1", cwd=tmp_path, PORT=str(port))
    _one_line_error(result, f"PORT {port}: cannot listen on 127.0.0.1:{port}")
    assert "Mail Connector for Jira on" not in result.stdout
    assert "app.started" not in result.stdout + result.stderr
    # Nothing was set up either: the port is checked first.
    assert not (tmp_path / "data" / "connector.db").exists()


# A child that imports everything, then waits for a shared start time, so that both
# migrations really begin together.
_RACER = """
import sys, time
from connector.cli import main
import connector.storage.db, connector.startup
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
sys.exit(main(["migrate"]))
"""


def test_two_migrations_at_once_on_empty_postgres_both_succeed(
    tmp_path: Path, postgres_url: str
) -> None:
    import time

    env = _env(DATABASE_URL=postgres_url)
    start = f"{time.time() + 4:.3f}"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, start],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [racer.communicate(timeout=120) for racer in racers]
    codes = [racer.returncode for racer in racers]
    # Each racer's whole error output, not pytest's shortened repr: a failure that shows only
    # under load must say what went wrong the first time it is seen.
    errors = "\n".join(
        f"--- racer {n}, exit {c}:\n{err}"
        for n, (c, (_, err)) in enumerate(zip(codes, results, strict=True))
    )
    assert codes == [0, 0], errors
    head = sorted(p.name for p in (ROOT / "connector/storage/migrations/versions").glob("0*.py"))
    for stdout, _ in results:
        assert f"database at revision {head[-1][:4]}" in stdout
    engine = make_engine(postgres_url)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()
        tenants = connection.execute(select(func.count()).select_from(TenantRow)).scalar_one()
    engine.dispose()
    assert (versions, tenants) == (1, 0)
