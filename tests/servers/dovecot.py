"""Dovecot on loopback: IMAP and POP3, plain (with STARTTLS) and implicit TLS, for a test session.

Everything lives in one temporary directory: the configuration, a throw-away self-signed
certificate, a passwd-file per user and their Maildirs. Ports are picked at runtime. Mail is
owned by an unprivileged account (`nobody` when the tests run as root, else the current user),
and Dovecot's own processes run as its usual `dovecot`/`dovenull` accounts.

Fixtures (wire them in with `pytest_plugins = ["tests.servers.dovecot"]`):
- `dovecot`: the session's server (`Dovecot`); skips when Dovecot is not installed, fails
  instead under REQUIRE_SERVERS=1.
- `mail_user`: a fresh user with an empty mailbox, so tests never see each other's mail.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.servers.certs import CertificateFiles, write_self_signed
from tests.servers.dovecot_config import DovecotPorts, local_accounts, render_config
from tests.servers.imap_client import ImapAdmin, StoredMessage
from tests.servers.oauth_tokens import TokenInfoServer
from tests.servers.processes import accepts, free_ports, group_alive, signal_group

__all__ = ["Dovecot", "MailUser", "StoredMessage", "dovecot", "mail_user"]

_START_TIMEOUT_SECONDS = 10.0
_STOP_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class MailUser:
    name: str
    password: str


class Dovecot:
    host = "127.0.0.1"
    # The same mailboxes as an IMAP4rev1 server without MOVE and UIDPLUS (see dovecot_config).
    legacy_host = "127.0.0.2"
    # The same mailboxes again, from a server that does not announce IDLE.
    no_idle_host = "127.0.0.3"
    # Maildir++ (Dovecot's default layout) separates levels with "."; the adapter must translate.
    delimiter = "."

    def __init__(self, binary: str, root: Path, *, idle_notify_interval: str = "2 mins") -> None:
        self._binary = binary
        self.root = root
        self.certificate: CertificateFiles = write_self_signed(root)
        self.ports = DovecotPorts(*free_ports(4))
        self._accounts = local_accounts()
        self._users: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self.tokens = TokenInfoServer()
        self.mail_dir.mkdir()
        os.chown(self.mail_dir, self._accounts.mail_uid, self._accounts.mail_gid)
        (self.root / "passwd").mkdir()
        self.config_path.write_text(
            render_config(
                root=root,
                host=self.host,
                legacy_host=self.legacy_host,
                delimiter=self.delimiter,
                ports=self.ports,
                accounts=self._accounts,
                certificate=self.certificate,
                tokeninfo_url=self.tokens.url,
                no_idle_host=self.no_idle_host,
                idle_notify_interval=idle_notify_interval,
            ),
            encoding="utf-8",
        )

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.running:
            return
        # -F: stay in the foreground, so the fixture owns the master process and can stop it.
        self._process = subprocess.Popen(
            [self._binary, "-F", "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Its own process group, so stopping it reaches every process it started.
            start_new_session=True,
        )
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        pending = set(self.ports.all())
        while pending:
            if self._process.poll() is not None:
                stderr = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"dovecot exited at start: {stderr}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"no answer on ports {sorted(pending)}\n{self.log_tail()}")
            pending = {port for port in pending if not accepts(self.host, port)}
            if pending:
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop the master and every process it started (login, auth, imap, pop3, log): a
        client connected at that moment sees its connection drop, as in a real restart."""
        process, self._process = self._process, None
        if process is None:
            return
        group = process.pid  # start_new_session made the master its group's leader
        signal_group(group, signal.SIGTERM)
        try:
            process.wait(_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            # A login process that started just before can sit in a blocking handshake with
            # the (already stopped) stats service for 5 s; nothing is lost by not waiting.
            signal_group(group, signal.SIGKILL)
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
        # Login processes hold the listening sockets too: the ports are free only once every
        # process of the group has gone (zombies hold nothing and do not count).
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        while group_alive(group):
            if time.monotonic() > deadline:
                signal_group(group, signal.SIGKILL)
            time.sleep(0.01)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self.tokens.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no dovecot log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def logouts(self, user: MailUser, protocol: str, *, at_least: int = 1) -> list[str]:
        """Dovecot's summary line for each finished session of `user`: IMAP's names what was
        fetched (`body_count=`), POP3's what was retrieved (`retr=`). The log process writes
        asynchronously, so this waits a moment for the expected number of lines."""
        marker = f"{protocol}({user.name})"
        deadline = time.monotonic() + 3.0
        while True:
            text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            lines = [
                line for line in text.splitlines() if marker in line and "Disconnected" in line
            ]
            if len(lines) >= at_least or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def connections(self, user: MailUser) -> list[int]:
        """The process ids of `user`'s open IMAP connections (`doveadm who`): one imap process
        per connection in this configuration."""
        doveadm = shutil.which("doveadm") or shutil.which("doveadm", path="/usr/bin:/usr/sbin")
        if doveadm is None:
            raise RuntimeError("doveadm is not installed (it comes with dovecot-core)")
        result = subprocess.run(
            [doveadm, "-c", str(self.config_path), "who", "-1", user.name],
            capture_output=True,
            text=True,
            check=True,
        )
        rows = [line.split() for line in result.stdout.splitlines()[1:]]
        return [int(row[2]) for row in rows if len(row) >= 3 and row[1] == "imap"]

    def kick(self, user: MailUser) -> None:
        """End `user`'s connections from the server's side, as an admin's `doveadm kick`."""
        for pid in self.connections(user):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    # -- users --------------------------------------------------------------------------------

    def new_user(self, prefix: str = "user") -> MailUser:
        name = f"{prefix}{len(self._users) + 1}-{secrets.token_hex(3)}"
        user = MailUser(name=name, password=secrets.token_urlsafe(12))
        self._users[user.name] = user.password
        self._write_passwd(user.name)
        return user

    def change_password(self, user: MailUser, password: str) -> MailUser:
        """Takes effect at the next login, as when an admin changes it on a real server."""
        if user.name not in self._users:
            raise KeyError(user.name)
        self._users[user.name] = password
        self._write_passwd(user.name)
        # Dovecot looks at a passwd-file at most once a second (at the next whole second).
        time.sleep(1.02 - time.time() % 1)
        return MailUser(name=user.name, password=password)

    def issue_token(self, user: MailUser) -> str:
        """An OAuth access token Dovecot accepts for `user` over XOAUTH2 (until revoked)."""
        return self.tokens.issue(user.name)

    def admin(self, user: MailUser) -> ImapAdmin:
        """The user's own IMAP session on the plain port, for delivering and inspecting mail."""
        return ImapAdmin(self.host, self.ports.imap, user.name, user.password)

    def deliver(
        self,
        user: MailUser,
        raw: bytes,
        folder: str = "INBOX",
        *,
        flags: tuple[str, ...] = (),
        internal_date: datetime | None = None,
    ) -> int:
        """APPEND one message as the user; the UID the server gave it."""
        with self.admin(user) as session:
            return session.deliver(raw, folder, flags=flags, internal_date=internal_date)

    def messages(self, user: MailUser, folder: str = "INBOX") -> list[StoredMessage]:
        with self.admin(user) as session:
            return session.messages(folder)

    def maildir(self, user: MailUser, folder: str = "INBOX") -> Path:
        """Where a folder lives on disk (Maildir++): the home, or `.Parent.Child` below it."""
        home = self.mail_dir / user.name
        if folder.upper() == "INBOX":
            return home
        from imap_tools.imap_utf7 import utf7_encode  # the on-disk name is modified UTF-7

        return home / ("." + utf7_encode(folder).decode("ascii"))

    def deliver_files(self, user: MailUser, messages: list[bytes], folder: str = "INBOX") -> None:
        """Drop many messages straight into a Maildir (fast, for big mailboxes): written to
        tmp/ and renamed into new/, as the Maildir convention asks, owned by the mail user.
        Each call's names carry a random part, so calls in the same second never collide."""
        with self.admin(user) as session:
            if folder.upper() != "INBOX" and folder not in session.list_folders():
                session.create_folder(folder)
            session.status(folder)  # makes Dovecot create the Maildir if it is not there yet
        base = self.maildir(user, folder)
        uid, gid = self._accounts.mail_uid, self._accounts.mail_gid
        stamp = int(time.time())
        batch = secrets.token_hex(6)
        for index, raw in enumerate(messages):
            name = f"{stamp}.M{index}P{os.getpid()}Q{batch}.connector-tests"
            temporary = base / "tmp" / name
            temporary.write_bytes(raw)
            os.chown(temporary, uid, gid)
            temporary.rename(base / "new" / name)

    # -- internals ----------------------------------------------------------------------------

    def _write_passwd(self, name: str) -> None:
        """One passwd-file per user. Dovecot re-reads one when its mtime or size changes; two
        writes in the same second with the same length would look unchanged, so the mtime is
        moved on explicitly. Written aside and renamed: never read half-written."""
        path = self.root / "passwd" / name
        previous = path.stat().st_mtime_ns if path.exists() else 0
        staging = path.with_suffix(".new")
        staging.write_text(f"{name}:{{PLAIN}}{self._users[name]}::::::\n", encoding="utf-8")
        staging.chmod(0o644)
        stamp = max(time.time_ns(), previous + 1_000_000_000)
        os.utime(staging, ns=(stamp, stamp))
        staging.replace(path)


def _scratch_parent() -> str | None:
    """tmpfs when there is one: Maildir means a file per message, and creating thousands of
    files on a VM's disk costs a millisecond each."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def find_dovecot() -> str | None:
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


def _dovecot_version(binary: str) -> str:
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip()


@contextmanager
def own_dovecot(*, idle_notify_interval: str = "2 mins") -> Iterator[Dovecot]:
    """A Dovecot of its own, started, removed afterwards; skips (or fails) as the fixture does."""
    binary = find_dovecot()
    if binary is None:
        skip_or_fail("Dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d)")
        raise AssertionError("unreachable")
    version = _dovecot_version(binary)
    if not version.startswith("2.3."):
        skip_or_fail(f"the Dovecot fixture writes a 2.3 configuration; found {version!r}")
    # Not pytest's tmp_path: that is private to the test user, and the mail processes run as
    # another (unprivileged) account that must reach its Maildir.
    root = Path(tempfile.mkdtemp(prefix="connector-dovecot-", dir=_scratch_parent()))
    root.chmod(0o755)
    server = Dovecot(binary, root, idle_notify_interval=idle_notify_interval)
    try:
        server.start()
    except RuntimeError as exc:
        server.close()
        pytest.fail(f"Dovecot is installed but did not start: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    with own_dovecot() as server:
        yield server


@pytest.fixture
def mail_user(dovecot: Dovecot) -> MailUser:
    # A test that stopped the server and then failed must not take the rest down with it.
    dovecot.start()
    return dovecot.new_user()
