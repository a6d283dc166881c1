"""All configuration, read from the environment (Heroku style; `.env` is read by the CLI).

| name                       | default                                     |
|----------------------------|---------------------------------------------|
| PORT                       | 8000                                        |
| BASE_URL                   | http://localhost:$PORT                      |
| DATABASE_URL               | sqlite:///./data/connector.db               |
| CONNECT_INSTALL_KEYS_URL   | https://connect-install-keys.atlassian.com  |
| ENCRYPTION_KEY             | generated once into ./data/ for development |
| APP_KEY                    | mail-connector                              |
| FORGE_APP_ID               | none (manifest and Forge routes say so)     |
| FORGE_JWKS_URL             | Atlassian's production Forge JWKS           |
| MESSAGE_TIME_LIMIT         | 20 (seconds to read one message)            |
| MESSAGE_MEMORY_LIMIT       | 1024 (MiB of address space per reader)      |
| MESSAGE_READERS            | 2 (reader processes per app or worker)      |
| MAX_ATTACHMENTS            | 100 (files per message added one by one)    |
| MAX_ATTACHMENT_BYTES       | 52428800 (50 MiB of such files per message) |
| ALLOWED_INTERNAL_HOSTS     | none; loopback when BASE_URL is loopback    |
| JIRA_SITE_CONCURRENCY      | 4 (Jira requests in flight per site)        |
| WORKER_CONCURRENCY         | 32 (jobs at once per PostgreSQL worker)     |

A message with more attachments than MAX_ATTACHMENTS, or more bytes of them than
MAX_ATTACHMENT_BYTES, keeps the first ones that fit; the description or comment lists the rest,
and the whole message is attached as original-message.eml (`connector.mail.limits`).

Decision: "production" means a BASE_URL whose host is not loopback, since only then can a Jira
Cloud site reach the app. There ENCRYPTION_KEY must be set: a key generated into a local file
would be lost with the dyno's file system, and with it every stored secret. ENCRYPTION_KEY may
hold several comma-separated Fernet keys; the first encrypts, all decrypt (key rotation).

FORGE_APP_ID is the Forge app's id, `ari:cloud:ecosystem::app/<uuid>` (what `forge register`
prints): the Forge manifest's `app.id` and the audience of every Forge Invocation Token. Without
it the app still serves Connect; `connector manifest`, `GET /forge/manifest.yml` and the Forge
routes answer that it is not set. FORGE_JWKS_URL is where the keys of those tokens are fetched
(`connector.forge.jwks`); it must be https when BASE_URL is public.

ALLOWED_INTERNAL_HOSTS: comma-separated host names, addresses and CIDR networks that mail
sources and SMTP may use although they are not public (on-premises mail servers); everything
else non-public is refused (`connector.net`). Loopback is allowed when BASE_URL is loopback, so a
developer's local mail server and the tests work without configuration.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from connector.mail.limits import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_MAX_ATTACHMENTS,
    AttachmentLimits,
)
from connector.net.addresses import AllowList

DEFAULT_PORT = 8000
DEFAULT_DATABASE_URL = "sqlite:///./data/connector.db"
DEFAULT_INSTALL_KEYS_URL = "https://connect-install-keys.atlassian.com"
DEFAULT_APP_KEY = "mail-connector"
# developer.atlassian.com/platform/forge/remote/essentials/ ("Verifying requests").
DEFAULT_FORGE_JWKS_URL = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
FORGE_APP_ID_MISSING = (
    "FORGE_APP_ID is not set: register the Forge app (`forge register`) and set FORGE_APP_ID "
    "to its id, ari:cloud:ecosystem::app/<uuid>"
)
DEFAULT_JIRA_SITE_CONCURRENCY = 4
# Jobs (polls, outbound rounds) one PostgreSQL worker runs at once: an idle poll mostly waits
# on IMAP and the database, so a worker keeps more mailboxes on schedule with more at once
# (`connector.engine.queue`); each job may hold one database connection (`connector.storage.db`).
DEFAULT_WORKER_CONCURRENCY = 32
MAX_WORKER_CONCURRENCY = 256
DEV_DATA_DIR = Path("data")
DEV_KEY_FILE = DEV_DATA_DIR / "encryption.key"

# Connect descriptor `key`: letters, digits, `-`, `.`, `_`; at most 80 characters.
_APP_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9._-]{1,80}$")
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
# An app ARI as the Forge CLI and developer console hand it out.
_FORGE_APP_ID_PATTERN = re.compile(
    r"^ari:cloud:ecosystem::app/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class ReadingLimits:
    """The budget for reading one message (`connector.budget`, `connector.pipeline.reading`).

    Defaults: the slowest real message in our corpora reads in 0.23 s and a 25 MB one in
    about 3 s; 20 s leaves room for a slow machine while a hostile message holds a reader for
    no longer than that. 1 GiB of address space holds a 25 MB message several times over.
    """

    seconds: float = 20.0
    memory_mib: int = 1024
    workers: int = 2
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES

    @property
    def attachments(self) -> AttachmentLimits:
        return AttachmentLimits(self.max_attachments, self.max_attachment_bytes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ReadingLimits:
        """The MESSAGE_* and MAX_ATTACHMENT* variables; raises `SettingsError` naming one."""
        return cls(
            seconds=_read_number(environ, "MESSAGE_TIME_LIMIT", 20, low=1, high=600),
            memory_mib=int(
                _read_number(environ, "MESSAGE_MEMORY_LIMIT", 1024, low=256, high=65536)
            ),
            workers=int(_read_number(environ, "MESSAGE_READERS", 2, low=1, high=64)),
            max_attachments=int(
                _read_number(
                    environ, "MAX_ATTACHMENTS", DEFAULT_MAX_ATTACHMENTS, low=0, high=10_000
                )
            ),
            max_attachment_bytes=int(
                _read_number(
                    environ,
                    "MAX_ATTACHMENT_BYTES",
                    DEFAULT_MAX_ATTACHMENT_BYTES,
                    low=0,
                    high=64 * 1024**3,
                )
            ),
        )


@dataclass(frozen=True)
class Settings:
    port: int
    base_url: str
    database_url: str
    connect_install_keys_url: str
    encryption_keys: tuple[str, ...] = field(repr=False)
    app_key: str
    reading: ReadingLimits = ReadingLimits()
    # ALLOWED_INTERNAL_HOSTS, with loopback added when BASE_URL is loopback.
    internal_hosts: AllowList = field(default_factory=AllowList)
    forge_app_id: str | None = None
    forge_jwks_url: str = DEFAULT_FORGE_JWKS_URL
    # JIRA_SITE_CONCURRENCY: requests in flight to one Jira site across every worker.
    jira_site_concurrency: int = DEFAULT_JIRA_SITE_CONCURRENCY
    # WORKER_CONCURRENCY: jobs one PostgreSQL worker runs at once (the SQLite scheduler has
    # its own bounds).
    worker_concurrency: int = DEFAULT_WORKER_CONCURRENCY

    @property
    def base_path(self) -> str:
        """Path part of BASE_URL (empty at the root): stripped before computing qsh."""
        return urlsplit(self.base_url).path.rstrip("/")

    @property
    def is_production(self) -> bool:
        return not is_loopback_url(self.base_url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, key_file: Path | None = None) -> Settings:
        port = _read_port(environ.get("PORT"))
        identity = AppIdentity.from_env(environ)
        base_url = identity.base_url
        database_url = _read_database_url(environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
        keys_url = _read_url(
            "CONNECT_INSTALL_KEYS_URL",
            environ.get("CONNECT_INSTALL_KEYS_URL") or DEFAULT_INSTALL_KEYS_URL,
        )
        forge_jwks_url = _read_url(
            "FORGE_JWKS_URL", environ.get("FORGE_JWKS_URL") or DEFAULT_FORGE_JWKS_URL
        )
        if not is_loopback_url(base_url) and not forge_jwks_url.startswith("https://"):
            raise SettingsError("FORGE_JWKS_URL must be https when BASE_URL is public")
        raw_keys = environ.get("ENCRYPTION_KEY", "").strip()
        if raw_keys:
            keys = _read_encryption_keys(raw_keys)
        elif not is_loopback_url(base_url):
            raise SettingsError(
                "ENCRYPTION_KEY is required when BASE_URL is public: generate one with "
                "`connector generate-key` and keep it safe (stored secrets cannot be read "
                "without it)"
            )
        else:
            keys = (_development_key(key_file or DEV_KEY_FILE),)
        reading = ReadingLimits.from_env(environ)
        try:
            internal_hosts = AllowList.parse(
                environ.get("ALLOWED_INTERNAL_HOSTS", ""), loopback=is_loopback_url(base_url)
            )
        except ValueError as exc:
            raise SettingsError(
                f"ALLOWED_INTERNAL_HOSTS: {exc}; give comma-separated host names, addresses "
                "or CIDR networks such as mail.corp.example,10.20.0.0/16"
            ) from None
        concurrency = _read_number(
            environ, "JIRA_SITE_CONCURRENCY", DEFAULT_JIRA_SITE_CONCURRENCY, low=1, high=100
        )
        return cls(
            port=port,
            base_url=base_url,
            database_url=database_url,
            connect_install_keys_url=keys_url,
            encryption_keys=keys,
            app_key=identity.app_key,
            reading=reading,
            internal_hosts=internal_hosts,
            forge_app_id=identity.forge_app_id,
            forge_jwks_url=forge_jwks_url,
            jira_site_concurrency=int(concurrency),
            worker_concurrency=_read_whole(
                environ,
                "WORKER_CONCURRENCY",
                DEFAULT_WORKER_CONCURRENCY,
                high=MAX_WORKER_CONCURRENCY,
            ),
        )


@dataclass(frozen=True)
class AppIdentity:
    """What the descriptor and the Forge manifest are rendered from: BASE_URL, APP_KEY and
    FORGE_APP_ID. Read alone by `connector manifest`, which runs where `forge deploy` runs and
    needs neither a database nor ENCRYPTION_KEY."""

    base_url: str
    app_key: str
    forge_app_id: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AppIdentity:
        port = _read_port(environ.get("PORT"))
        base_url = _read_url("BASE_URL", environ.get("BASE_URL") or f"http://localhost:{port}")
        if not is_loopback_url(base_url) and not base_url.startswith("https://"):
            # Jira Cloud and Forge call apps over HTTPS only; a plain-http public URL would
            # start, then never be reached (and would carry tokens in clear).
            raise SettingsError(
                f"BASE_URL must be https when it is not loopback (Atlassian calls apps over "
                f"HTTPS only), not {base_url!r}: put the app behind TLS and give its https URL"
            )
        app_key = environ.get("APP_KEY") or DEFAULT_APP_KEY
        if not _APP_KEY_PATTERN.match(app_key):
            raise SettingsError(
                f"APP_KEY {app_key!r} is not a valid Connect app key: use 1-80 letters, digits, "
                "'-', '.' or '_'"
            )
        return cls(base_url, app_key, _read_forge_app_id(environ.get("FORGE_APP_ID", "")))


def _read_forge_app_id(raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not _FORGE_APP_ID_PATTERN.match(value.lower()):
        raise SettingsError(
            f"FORGE_APP_ID must be the Forge app's id, ari:cloud:ecosystem::app/<uuid> "
            f"(as `forge register` prints it), not {value!r}"
        )
    return value.lower()


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_port(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return DEFAULT_PORT
    try:
        port = int(raw.strip())
    except ValueError:
        raise SettingsError(f"PORT must be a number from 1 to 65535, not {raw!r}") from None
    if not 1 <= port <= 65535:
        raise SettingsError(f"PORT must be a number from 1 to 65535, not {port}")
    return port


def _read_number(
    environ: Mapping[str, str], name: str, default: float, *, low: float, high: float
) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        span = f"{_plain(low)} to {_plain(high)}"
        raise SettingsError(f"{name} must be a number from {span}, not {raw!r}")
    return value


def _read_whole(environ: Mapping[str, str], name: str, default: int, *, high: int) -> int:
    """A whole number from 1 to `high`: a count of things, where 2.5 means nothing."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= high:
        raise SettingsError(f"{name} must be a whole number from 1 to {high}, not {raw!r}")
    return value


def _plain(number: float) -> str:
    """1073741824, not 1.07374e+09."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _read_url(name: str, raw: str) -> str:
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SettingsError(f"{name} must be an absolute http(s) URL, not {raw!r}")
    if parts.query or parts.fragment:
        raise SettingsError(f"{name} must not have a query or fragment: {raw!r}")
    return value


def _read_database_url(raw: str) -> str:
    value = raw.strip()
    # Heroku still hands out `postgres://`; SQLAlchemy wants a dialect name, and we use psycopg 3.
    if value.startswith("postgres://"):
        value = "postgresql+psycopg://" + value[len("postgres://") :]
    elif value.startswith("postgresql://"):
        value = "postgresql+psycopg://" + value[len("postgresql://") :]
    if not (value.startswith("sqlite:") or value.startswith("postgresql+")):
        raise SettingsError(
            f"DATABASE_URL must be a sqlite:/// or postgresql:// URL, not {_redact_url(raw)!r}"
        )
    return value


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(parts.password, "***")
    return url


def _read_encryption_keys(raw: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for index, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise SettingsError(
                f"ENCRYPTION_KEY entry {index} is not a Fernet key (32 url-safe base64-encoded "
                "bytes); generate one with `connector generate-key`"
            ) from None
    return keys


def _development_key(path: Path) -> str:
    """A key generated once into the data folder, so a developer's secrets survive restarts."""
    if path.exists():
        return _read_encryption_keys(path.read_text(encoding="ascii"))[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode("ascii")
    path.write_text(key + "\n", encoding="ascii")
    path.chmod(0o600)
    return key
