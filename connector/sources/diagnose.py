"""`diagnose(config)`: why a mailbox does or does not work, step by step, before it is saved.

The steps run in the order a connection needs them; the first failure ends the chain, since
every later step would fail for the same reason. Each step says what it found (`detail`,
`data`) or what went wrong (`error`, with the server's own words where there are any, once it
has greeted as the protocol expects: another service's banner is never repeated). The host is
checked against the source's `host_policy` first, so an address the app may not use is never
contacted (`connector.net`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from connector.sources import open_source
from connector.sources.base import Cursor, MailSource, Pop3Cursor
from connector.sources.config import SourceConfig
from connector.sources.errors import FolderNotFound, SourceAuthError, SourceError
from connector.sources.imap import ImapSource
from connector.sources.probe import TlsReport, connect_tcp, probe_tls, resolve
from connector.sources.tls import connection_warnings

T = TypeVar("T")
_COUNT_LIMIT = 1000


@dataclass(frozen=True)
class DiagnosisStep:
    name: str  # resolve, connect, tls, authenticate, folder, messages
    ok: bool
    detail: str = ""
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    elapsed_ms: int = 0


@dataclass(frozen=True)
class Diagnosis:
    steps: tuple[DiagnosisStep, ...]
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def step(self, name: str) -> DiagnosisStep | None:
        return next((step for step in self.steps if step.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "warnings": list(self.warnings),
            "steps": [
                {
                    "name": s.name,
                    "ok": s.ok,
                    "detail": s.detail,
                    "error": s.error,
                    "data": s.data,
                    "elapsed_ms": s.elapsed_ms,
                }
                for s in self.steps
            ],
        }


@dataclass(frozen=True)
class _Found(Generic[T]):
    value: T
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


class _StepFailed(Exception):
    def __init__(self, error: str, data: dict[str, Any]) -> None:
        super().__init__(error)
        self.data = data


class _Chain:
    def __init__(self) -> None:
        self.steps: list[DiagnosisStep] = []
        self.broken = False

    def run(self, name: str, action: Callable[[], _Found[T]]) -> T | None:
        if self.broken:
            return None
        started = time.monotonic()
        data: dict[str, Any] = {}
        try:
            found = action()
        except _StepFailed as exc:
            error, data = str(exc), exc.data
        except (SourceError, OSError) as exc:
            error = str(exc)
            if isinstance(exc, SourceAuthError):
                data = {"server_message": exc.server_message}
        else:
            elapsed = int((time.monotonic() - started) * 1000)
            self.steps.append(DiagnosisStep(name, True, found.detail, None, found.data, elapsed))
            return found.value
        self.broken = True
        elapsed = int((time.monotonic() - started) * 1000)
        self.steps.append(DiagnosisStep(name, False, "", error, data, elapsed))
        return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def diagnose(
    config: SourceConfig, *, cursor: Cursor | None = None, since: datetime | None = None
) -> Diagnosis:
    """`cursor`: also count what is new for a saved source; `since`: also estimate a backlog."""
    warnings = connection_warnings(config)
    chain = _Chain()
    if config.protocol != "graph":
        # Graph is HTTPS to Microsoft's own hosts: name, connection and certificate are checked
        # by the HTTP client on the first call, and its error names the failing step.
        addresses = chain.run("resolve", lambda: _resolve(config))
        address = chain.run("connect", lambda: _connect(config, addresses or []))
        chain.run("tls", lambda: _tls(config, address or ""))
    source = open_source(config)
    try:
        # Each step runs only if every step before it passed.
        chain.run("authenticate", lambda: _authenticate(source))
        chain.run("folder", lambda: _folder(source))
        chain.run("messages", lambda: _messages(source, cursor, since))
    finally:
        source.close()
    return Diagnosis(tuple(chain.steps), warnings)


def _resolve(config: SourceConfig) -> _Found[list[str]]:
    addresses = resolve(config)
    return _Found(addresses, f"{config.host} is {', '.join(addresses)}", {"addresses": addresses})


def _connect(config: SourceConfig, addresses: list[str]) -> _Found[str]:
    errors = []
    for address in addresses:
        try:
            connect_tcp(config, address).close()
        except SourceError as exc:
            errors.append(str(exc))
            continue
        return _Found(address, f"{address} port {config.port} accepts connections")
    raise _StepFailed("; ".join(errors) or "no address to connect to", {})


def _tls(config: SourceConfig, address: str) -> _Found[TlsReport | None]:
    if config.security == "none":
        return _Found(None, "not encrypted (security: none)", {"encrypted": False})
    report = probe_tls(config, address)
    cert = report.certificate
    data: dict[str, Any] = {"version": report.version, "problem": report.problem}
    if cert is not None:
        data |= {
            "subject": cert.subject,
            "issuer": cert.issuer,
            "names": list(cert.names),
            "not_after": cert.not_after.isoformat(),
            "self_signed": cert.self_signed,
        }
    about = f"certificate {cert.subject}, expires {cert.not_after:%Y-%m-%d}" if cert else ""
    if report.problem and config.verify_tls:
        raise _StepFailed(
            f"the certificate is not trusted: {report.problem} ({about}); if the server is "
            "yours and uses a self-signed certificate, turn certificate checks off",
            data,
        )
    detail = f"{report.version}, {about}"
    if report.problem:
        detail += f"; not trusted ({report.problem}), accepted because checks are off"
    return _Found(report, detail, data)


def _authenticate(source: MailSource) -> _Found[bool]:
    source.connect()
    if source.config.protocol == "graph":
        # Graph's connect signs in with the token and opens the folder in one call.
        return _Found(True, f"signed in to Microsoft Graph and opened {source.config.folder!r}")
    return _Found(True, f"logged in as the configured user over {source.config.security}")


def _folder(source: MailSource) -> _Found[bool]:
    folder = source.config.folder
    if source.config.protocol == "graph":
        return _Found(True, f"{folder!r} exists")
    if not isinstance(source, ImapSource):
        return _Found(True, "POP3 reads the one inbox of the account")
    try:
        source.folder_status(folder)
    except FolderNotFound as exc:
        folders = source.list_folders()
        raise _StepFailed(
            f"{exc}; the folders are: {', '.join(folders)}", {"folders": folders}
        ) from exc
    return _Found(True, f"{folder!r} exists")


def _messages(source: MailSource, cursor: Cursor | None, since: datetime | None) -> _Found[bool]:
    counts: dict[str, Any] = {}
    if isinstance(source, ImapSource):
        status = source.folder_status()
        counts |= {"total": status.messages, "unseen": status.unseen}
    elif source.config.protocol == "graph":
        counts["total"] = source.estimate_backlog(_EPOCH)  # $count over the whole folder
    else:
        counts["total"] = len(source.list_new(Pop3Cursor(frozenset()), limit=10**9).refs)
    if cursor is not None:
        listing = source.list_new(cursor, limit=_COUNT_LIMIT)
        counts["new_since_baseline"] = len(listing.refs)
        counts["more_than_counted"] = listing.has_more
    if since is not None:
        counts["since"] = source.estimate_backlog(since)
    detail = ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in counts.items())
    return _Found(True, detail, counts)
