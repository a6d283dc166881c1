"""The `connector` command: serve, worker, migrate, rotate-key, preview, generate-key, manifest,
site, admin-link (the last two in `connector.sites_cli`)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette

from connector import logs, sites_cli
from connector.settings import FORGE_APP_ID_MISSING, AppIdentity, Settings, SettingsError

if TYPE_CHECKING:
    from connector.mail_source import SourceSpec
    from connector.pipeline.reading import MessageReader
    from connector.pipeline.understanding import Understanding
    from connector.senders.outcome import SenderAuthentication


def load_settings() -> Settings:
    _load_dotenv()
    return Settings.from_env(os.environ)


def _load_dotenv() -> None:
    # `.env` is a development convenience; real environment variables win over it.
    try:
        from dotenv import load_dotenv

        load_dotenv(override=False)
    except ImportError:  # pragma: no cover - python-dotenv is a dependency
        pass


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory connector.cli:app_from_env` (the Procfile's web)."""
    from connector.app import create_app
    from connector.runtime import Runtime
    from connector.startup import StartupError, prepared_engine

    try:
        logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
        settings = load_settings()
        engine = prepared_engine(settings)
    except (ValueError, StartupError) as exc:  # SettingsError is a ValueError
        print(f"configuration error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    runtime = Runtime.create(settings, engine=engine)
    return create_app(settings, runtime=runtime, migrate_on_start=False)


def cmd_serve(settings: Settings, host: str) -> int:
    import uvicorn

    from connector.app import create_app
    from connector.runtime import Runtime
    from connector.startup import bound_socket, prepared_engine

    # The port first: nothing may say the app started before it is ours.
    sock = bound_socket(host, settings.port)
    try:
        runtime = Runtime.create(settings, engine=prepared_engine(settings))
    except BaseException:
        sock.close()
        raise
    app = create_app(settings, runtime=runtime, migrate_on_start=False, run_worker=True)
    print(f"Mail Connector for Jira on {settings.base_url}", flush=True)
    print(
        f"Descriptor URL (install it from Jira's Manage apps): "
        f"{settings.base_url}/atlassian-connect.json",
        flush=True,
    )
    config = uvicorn.Config(app, host=host, port=settings.port, log_config=None)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def cmd_worker(settings: Settings) -> int:
    from connector.engine import work_engine
    from connector.runtime import Runtime
    from connector.startup import prepared_engine

    runtime = Runtime.create(settings, engine=prepared_engine(settings))
    # PostgreSQL: one of any number of workers sharing the task queue; SQLite: the one.
    engine = work_engine(runtime, push=True)
    signal.signal(signal.SIGTERM, lambda *_: engine.stop())
    signal.signal(signal.SIGINT, lambda *_: engine.stop())
    print(f"worker {engine.owner} polling mail sources", flush=True)
    engine.run_forever()
    return 0


def cmd_migrate(settings: Settings) -> int:
    """Migrates, then checks the keys too: as the Procfile's `release` step, a wrong key
    stops the deploy before web and worker restart with it."""
    from connector.startup import prepared_engine
    from connector.storage.db import current_revision

    engine = prepared_engine(settings)
    print(f"database at revision {current_revision(engine)}")
    return 0


def cmd_rotate_key(settings: Settings) -> int:
    """Re-encrypt everything stored with the first key of ENCRYPTION_KEY."""
    from connector.startup import prepared_engine
    from connector.storage.key_rotation import KeyMismatch, rotate_keys
    from connector.storage.secrets import SecretBox

    engine = prepared_engine(settings)
    try:
        counts = rotate_keys(engine, SecretBox(settings.encryption_keys))
    except KeyMismatch as exc:
        print(f"configuration error: ENCRYPTION_KEY: {exc}", file=sys.stderr)
        return 2
    for column, count in counts.items():
        print(f"{column}: {count} re-encrypted")
    print(
        f"re-encrypted {sum(counts.values())} values with the first key of ENCRYPTION_KEY; "
        "the other keys can be removed once every process runs with the first key first"
    )
    return 0


def cmd_preview(
    path: str,
    as_json: bool,
    *,
    settings: Settings | None = None,
    source_id: int | None = None,
    dns: bool = False,
    adf: bool = False,
) -> int:
    """`source_id` (with the settings naming the database): also where the message would go
    through that source, its address rules and the tenant's threads; nothing is written.
    `dns`: look the DKIM keys up, so that a signature can verify; offline by default.
    `adf`: also print the ADF documents Jira would get (`--json` always has them)."""
    import json
    from pathlib import Path

    from connector.budget import OverBudget
    from connector.mail.inbound import UnparseableEmail
    from connector.pipeline.reading import reader_for
    from connector.preview import preview_dict
    from connector.preview_text import format_preview
    from connector.settings import ReadingLimits

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        # Without settings, the reading limits still come from the environment, so the
        # preview keeps and leaves out the same attachments as the pipeline would.
        limits = settings.reading if settings else ReadingLimits.from_env(os.environ)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    reader = reader_for(limits)
    status = 0
    try:
        understanding = reader.understand(raw)
    except UnparseableEmail as exc:
        print(f"{path} is not an email: {exc.reason}", file=sys.stderr)
        return 1
    except OverBudget as exc:
        # Show what the pipeline would make of it instead: its headers and the original.
        print(f"{path} could not be read within the limits: it {exc.reason}", file=sys.stderr)
        understanding = reader.unreadable(raw, exc.reason)
        status = 1
    sender = understanding.email.sender
    check = SenderCheck(reader, raw, sender.address if sender else None, dns)
    routing = None
    if settings is not None and source_id is not None:
        try:
            routing = _source_routing(settings, source_id, understanding, check)
        except LookupError as exc:
            print(str(exc.args[0]), file=sys.stderr)
            return 2
    sender_auth = check.result or check(None)
    if as_json:
        data = preview_dict(understanding, sender_auth)
        if routing is not None:
            data["routing"] = routing
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(format_preview(understanding, sender_auth, routing=routing, adf=adf))
    return status


def _source_routing(
    settings: Settings, source_id: int, understanding: Understanding, check: SenderCheck
) -> dict[str, Any]:
    """The route check of `connector.preview` for a stored source; LookupError says why not."""
    from connector.pipeline.decide import Facts
    from connector.preview import routing_dict
    from connector.routing.match import thread_digests
    from connector.storage.db import DatabaseUnavailable, database_errors, make_engine
    from connector.storage.secrets import SecretBox
    from connector.storage.sources import SourceRepository
    from connector.storage.threads import ThreadRepository

    engine = make_engine(settings.database_url)
    try:
        with database_errors():
            source = SourceRepository(engine, SecretBox(settings.encryption_keys)).find(source_id)
            if source is None:
                raise LookupError(f"no mail source with id {source_id} in the database")
            known = ThreadRepository(engine).lookup(
                source.tenant_id, thread_digests(understanding.email)
            )
    except DatabaseUnavailable as exc:
        raise LookupError(
            f"cannot read mail sources from the database ({exc}); "
            "is DATABASE_URL right, and has `connector migrate` run?"
        ) from exc
    finally:
        engine.dispose()
    routing: dict[str, Any] = {
        "source": {"id": source.id, "name": source.spec.name},
        **routing_dict(understanding, source.spec, Facts(known=known), check(source.spec)),
    }
    return routing


@dataclass
class SenderCheck:
    """The preview's sender check (issue 15), with the source's trusted servers and own
    domains once the source is known; `result` keeps the last verdict."""

    reader: MessageReader
    raw: bytes
    sender: str | None
    dns: bool
    result: SenderAuthentication | None = None

    def __call__(self, spec: SourceSpec | None) -> SenderAuthentication:
        from connector.net.dkim_keys import lookup_dkim_key
        from connector.pipeline.routes import own_domains
        from connector.pipeline.sender_check import check_sender, offline, trusted_servers
        from connector.senders.trusted import NOBODY

        self.result = check_sender(
            self.reader,
            self.raw,
            self.sender,
            servers=trusted_servers(spec) if spec else NOBODY,
            lookup=lookup_dkim_key if self.dns else offline,
            own_domains=own_domains(spec) if spec else (),
        )
        return self.result


def cmd_manifest(output: str | None) -> int:
    """The Forge manifest for BASE_URL, APP_KEY and FORGE_APP_ID, to stdout or `output`.
    Needs no database or ENCRYPTION_KEY: it runs where `forge deploy` runs."""
    from pathlib import Path

    from descriptor.manifest import manifest_yaml

    _load_dotenv()
    try:
        identity = AppIdentity.from_env(os.environ)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if identity.forge_app_id is None:
        print(f"configuration error: {FORGE_APP_ID_MISSING}", file=sys.stderr)
        return 2
    text = manifest_yaml(
        base_url=identity.base_url,
        app_key=identity.app_key,
        forge_app_id=identity.forge_app_id,
    )
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


def cmd_generate_key() -> int:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode("ascii"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="connector", description="Mail Connector for Jira")
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the web app (and the worker in-process)")
    serve.add_argument("--host", default="0.0.0.0", help="interface to listen on")  # noqa: S104
    commands.add_parser("worker", help="run the mailbox poller alone")
    commands.add_parser("migrate", help="bring the database schema up to date")
    preview = commands.add_parser(
        "preview", help="show what a message would become in Jira (no side effects)"
    )
    preview.add_argument("file", help="a raw message (.eml, .box, .msg source)")
    preview.add_argument("--json", action="store_true", help="print JSON instead of text")
    preview.add_argument(
        "--adf", action="store_true", help="also print the ADF JSON that Jira would get"
    )
    preview.add_argument(
        "--source",
        type=int,
        metavar="ID",
        help="also show where the message would go through this mail source: its address "
        "rules and threads (read from DATABASE_URL; nothing is written)",
    )
    preview.add_argument(
        "--dns",
        action="store_true",
        help="look DKIM keys up in DNS to verify the sender; without it the preview is "
        "offline and a signature shows as not checked",
    )
    commands.add_parser("generate-key", help="print a new ENCRYPTION_KEY")
    commands.add_parser(
        "rotate-key", help="re-encrypt everything stored with the first key of ENCRYPTION_KEY"
    )
    manifest = commands.add_parser(
        "manifest",
        help="print the Forge manifest (manifest.yml) for BASE_URL, APP_KEY and FORGE_APP_ID",
    )
    manifest.add_argument("--output", metavar="PATH", help="write it to PATH instead of stdout")
    sites_cli.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        logs.configure(args.log_level)
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "generate-key":
        return cmd_generate_key()
    if args.command == "manifest":
        return cmd_manifest(args.output)
    if args.command == "preview" and args.source is None:
        # Needs no settings, database or network: it must work on any machine with a file.
        return cmd_preview(args.file, args.json, dns=args.dns, adf=args.adf)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "preview":
        return cmd_preview(
            args.file,
            args.json,
            settings=settings,
            source_id=args.source,
            dns=args.dns,
            adf=args.adf,
        )
    if args.command in sites_cli.COMMANDS:
        return sites_cli.run(args, settings)
    from connector.startup import StartupError

    commands = {
        "serve": lambda: cmd_serve(settings, args.host),
        "worker": lambda: cmd_worker(settings),
        "migrate": lambda: cmd_migrate(settings),
        "rotate-key": lambda: cmd_rotate_key(settings),
    }
    try:
        return commands[args.command]()
    except StartupError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
