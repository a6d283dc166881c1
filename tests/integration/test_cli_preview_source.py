"""`connector preview FILE.eml --source ID`: where a message would go, from the command line,
read from the database the settings name, with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector.mail_source import SourcePolicy
from connector.routing.addresses import AddressRule
from connector.routing.match import message_id_digest
from connector.storage.db import make_engine, migrate
from connector.storage.models import EmailLogRow, ThreadMessageRow
from connector.storage.secrets import SecretBox
from connector.storage.threads import ThreadRepository
from tests.integration.tenants import stored_helpdesk
from tests.integration.test_cli import _connector

FORWARDED = (
    b"Delivered-To: helpdesk@mail.example.com\r\n"
    b"X-Original-To: billing@example.com\r\n"
    b"From: Dave <dave@customer.example>\r\n"
    b"To: undisclosed-recipients:;\r\n"
    b"Cc: support@example.com\r\n"
    b"Subject: Invoice 42\r\n"
    b"Message-ID: <inv-42@customer.example>\r\n"
    b"\r\n"
    b"The invoice is wrong.\r\n"
)


@pytest.fixture
def stored(tmp_path: Path, encryption_key: str) -> tuple[dict[str, str], int]:
    database_url = f"sqlite:///{tmp_path / 'connector.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    secrets = SecretBox([encryption_key])
    tenant, source = stored_helpdesk(
        engine,
        secrets,
        "jira:site-cli",
        policy=SourcePolicy(labels=("email",)),
        address_rules=(
            AddressRule("billing@example.com", "BIL", "Bug"),
            AddressRule("support@example.com", "SUP"),
        ),
    )
    ThreadRepository(engine).remember(
        tenant.id, message_id_digest("orig@customer.example"), "BIL-3", "inbound"
    )
    engine.dispose()
    env = {"DATABASE_URL": database_url, "ENCRYPTION_KEY": encryption_key}
    return env, source.id


def _counts(database_url: str) -> tuple[int, int]:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        logs = connection.execute(select(func.count()).select_from(EmailLogRow)).scalar_one()
        threads = connection.execute(
            select(func.count()).select_from(ThreadMessageRow)
        ).scalar_one()
    engine.dispose()
    return int(logs), int(threads)


def test_cli_preview_source_prints_header_rule_and_outcome(
    tmp_path: Path, stored: tuple[dict[str, str], int]
) -> None:
    env, source_id = stored
    message = tmp_path / "forwarded.eml"
    message.write_bytes(FORWARDED)
    result = _connector("preview", str(message), "--source", str(source_id), cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # What happens first: the outcome, the route, the source.
    assert out.splitlines()[:3] == [
        "Outcome:        create (create an issue in BIL as Bug)",
        "Route:          X-Original-To: billing@example.com matched address rule 1 "
        "(billing@example.com) -> BIL as Bug",
        f"Source:         Helpdesk (id {source_id})",
    ]
    assert "From:           Dave <dave@customer.example>" in out  # the usual preview is there
    # Only the text the outcome uses: the description, once, without its ADF.
    assert "Description:" in out and "Comment" not in out
    assert out.count("The invoice is wrong.") == 1 and '"type"' not in out
    assert f"Source:         Helpdesk (id {source_id})" in out
    assert "X-Original-To:  billing@example.com" in out
    assert (
        "route: X-Original-To: billing@example.com matched address rule 1 "
        "(billing@example.com) -> BIL as Bug"
    ) in out
    assert "also addressed to support@example.com (Cc, address rule 2) -> SUP" in out
    assert "Outcome:        create (create an issue in BIL as Bug)" in out
    assert _counts(env["DATABASE_URL"]) == (0, 1)  # nothing written


def test_cli_preview_source_json_reply_threads_whatever_the_address(
    tmp_path: Path, stored: tuple[dict[str, str], int]
) -> None:
    env, source_id = stored
    reply = FORWARDED.replace(
        b"Message-ID: <inv-42@customer.example>", b"In-Reply-To: <orig@customer.example>"
    )
    message = tmp_path / "reply.eml"
    message.write_bytes(reply)
    result = _connector(
        "preview", str(message), "--source", str(source_id), "--json", cwd=tmp_path, **env
    )
    assert result.returncode == 0, result.stderr
    routing = json.loads(result.stdout)["routing"]
    assert routing["source"] == {"id": source_id, "name": "Helpdesk"}
    assert (routing["outcome"], routing["issue_key"]) == ("comment", "BIL-3")
    assert routing["route"]["header"] == "X-Original-To"


def test_cli_preview_unknown_source_exits_2(
    tmp_path: Path, stored: tuple[dict[str, str], int]
) -> None:
    env, source_id = stored
    message = tmp_path / "forwarded.eml"
    message.write_bytes(FORWARDED)
    result = _connector(
        "preview", str(message), "--source", str(source_id + 7), cwd=tmp_path, **env
    )
    assert result.returncode == 2
    assert f"no mail source with id {source_id + 7}" in result.stderr


def test_cli_preview_source_unmigrated_database_exits_2_with_advice(
    tmp_path: Path, encryption_key: str
) -> None:
    message = tmp_path / "forwarded.eml"
    message.write_bytes(FORWARDED)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "ENCRYPTION_KEY": encryption_key}
    result = _connector("preview", str(message), "--source", "1", cwd=tmp_path, **env)
    assert result.returncode == 2
    assert "cannot read mail sources from the database (OperationalError)" in result.stderr
    assert "has `connector migrate` run?" in result.stderr
