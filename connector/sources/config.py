"""How to reach one mailbox: `SourceConfig`, validated as a whole when it is built.

Every check names the field as the admin API spells it, so an error can be shown beside the
input that caused it. Folder names are written with `/` between levels whatever the server's
hierarchy delimiter is; the IMAP adapter translates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import get_args

from connector.net.hosts import PUBLIC_ONLY, HostPolicy
from connector.resources.mail_source import (
    BY_NAME,
    DEFAULT_MAX_MESSAGE_BYTES,
    AfterProcessing,
    ProtocolName,
    Security,
)
from connector.sources.errors import SourceConfigError

__all__ = ["AfterProcessing", "ProtocolName", "Security", "SourceConfig"]

AccessTokenProvider = Callable[[], str]

DEFAULT_FOLDER = "INBOX"
DEFAULT_TIMEOUT_SECONDS = 30
# Microsoft Graph's global service and its national clouds ("National cloud deployments",
# Microsoft Learn). A bearer token goes to no other host.
GRAPH_HOSTS = (
    "graph.microsoft.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn",
)
# RFC 1123 host names, or IPv4/IPv6 literals; no scheme, path or port.
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^[0-9A-Fa-f:.]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class MailboxSettings:
    """Where a mailbox is and how it is read: what an admin sets on a source's connection,
    typed once. `SourceConfig` adds the credentials and is checked as a whole; the admin's
    `SourceSpec` adds what the pipeline does with the mail. Past `username` the settings are
    keyword-only, so a subclass's own fields follow `username` when given in order."""

    protocol: ProtocolName
    host: str
    port: int
    username: str
    _: KW_ONLY
    security: Security = "ssl"
    verify_tls: bool = True
    folder: str = DEFAULT_FOLDER
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    after_processing: AfterProcessing = "mark_read"
    success_folder: str | None = None
    failure_folder: str | None = None
    exclusion_folders: tuple[str, ...] = ()
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class SourceConfig(MailboxSettings):
    """One mailbox. Secrets are kept out of `repr` so a logged config never shows them."""

    password: str | None = field(default=None, repr=False)
    # XOAUTH2: called at each login, so a refreshed token is picked up (OAuth lives elsewhere).
    access_token: AccessTokenProvider | None = field(default=None, repr=False)
    # Shown in log events instead of the account name (DESIGN.md: no whole addresses at info).
    source_id: str = ""
    # Graph only: the mailbox read when it is not the signed-in user's own, e.g. a Microsoft 365
    # shared mailbox (`/users/{mailbox}`); with application access, the mailbox to read.
    mailbox: str | None = None
    # Which addresses the connection may go to (`connector.net`): public ones unless the
    # operator allows more; the app passes the policy its settings make.
    host_policy: HostPolicy = field(default=PUBLIC_ONLY, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_choice("protocol", self.protocol, get_args(ProtocolName))
        _check_choice("security", self.security, get_args(Security))
        _check_choice("after_processing", self.after_processing, get_args(AfterProcessing))
        if not isinstance(self.host, str) or not _HOST.match(self.host):
            raise SourceConfigError("host", f"{self.host!r} is not a host name or IP address")
        for name in ("port", "timeout_seconds", "max_message_bytes"):
            _check_int(name, getattr(self, name))
        if not isinstance(self.verify_tls, bool):
            raise SourceConfigError("verify_tls", "must be true or false")
        if not isinstance(self.username, str) or not self.username.strip():
            raise SourceConfigError("username", "is required")
        self._check_credentials()
        self._check_folders()
        if self.protocol == "pop3":
            self._check_pop3()
        self._check_mailbox()
        if self.protocol == "graph":
            self._check_graph()

    @property
    def label(self) -> str:
        """What log events call this source."""
        return self.source_id or f"{self.protocol}:{self.host}:{self.port}"

    def _check_credentials(self) -> None:
        if self.password is not None and self.access_token is not None:
            raise SourceConfigError("password", "give a password or an OAuth token, not both")
        if self.access_token is not None and not callable(self.access_token):
            raise SourceConfigError("access_token", "must be a callable returning the token")
        if self.protocol == "graph" and self.access_token is None:
            raise SourceConfigError("access_token", "Microsoft Graph needs an OAuth access token")
        if self.access_token is None and not self.password:
            raise SourceConfigError("password", "is required (or an OAuth access token)")

    def _check_folders(self) -> None:
        _check_folder_name("folder", self.folder)
        for name in ("success_folder", "failure_folder"):
            value = getattr(self, name)
            if value is not None:
                _check_folder_name(name, value)
                if same_folder(value, self.folder):
                    raise SourceConfigError(name, f"must differ from the folder read ({value!r})")
        if not isinstance(self.exclusion_folders, tuple):
            raise SourceConfigError("exclusion_folders", "must be a list of folder names")
        for excluded in self.exclusion_folders:
            _check_folder_name("exclusion_folders", excluded)
        if is_excluded(self.folder, self.exclusion_folders):
            raise SourceConfigError(
                "folder", f"{self.folder!r} is an exclusion folder, and those are never read"
            )
        if self.after_processing == "move" and self.success_folder is None:
            raise SourceConfigError("success_folder", "is required when after_processing is move")

    def _check_mailbox(self) -> None:
        if self.mailbox is None:
            return
        if self.protocol != "graph":
            raise SourceConfigError(
                "mailbox",
                "only Microsoft Graph sources read another mailbox; over IMAP, use the shared "
                "mailbox's address as the user name",
            )
        if not isinstance(self.mailbox, str) or not self.mailbox.strip():
            raise SourceConfigError("mailbox", "must be an address or user id")
        if _CONTROL.search(self.mailbox) or "/" in self.mailbox or " " in self.mailbox.strip():
            raise SourceConfigError("mailbox", f"{self.mailbox!r} is not an address or user id")

    def _check_graph(self) -> None:
        if self.host.lower() not in GRAPH_HOSTS:
            raise SourceConfigError(
                "host", f"Microsoft Graph is at one of {', '.join(GRAPH_HOSTS)}, not {self.host!r}"
            )
        if self.security != "ssl":
            raise SourceConfigError("security", "Microsoft Graph is reached over HTTPS only")
        if self.port != 443:
            raise SourceConfigError("port", "Microsoft Graph is reached on port 443")
        if "/" in self.username or _CONTROL.search(self.username):
            raise SourceConfigError("username", f"{self.username!r} is not an address or user id")

    def _check_pop3(self) -> None:
        # RFC 1939 knows one mailbox per account: there is nothing to select, move or flag.
        if not same_folder(self.folder, DEFAULT_FOLDER):
            raise SourceConfigError(
                "folder",
                "POP3 has no folders, only the inbox; use IMAP to read another folder",
            )
        if self.after_processing != "delete":
            raise SourceConfigError(
                "after_processing",
                f"POP3 cannot {self.after_processing.replace('_', ' ')}: it can only delete a "
                "processed message (mail left on the server is tracked by UIDL); use IMAP to "
                "mark read or move",
            )
        for name in ("success_folder", "failure_folder"):
            if getattr(self, name) is not None:
                raise SourceConfigError(name, "POP3 has no folders to move messages to")
        if self.exclusion_folders:
            raise SourceConfigError("exclusion_folders", "POP3 has no folders to exclude")


def same_folder(a: str, b: str) -> bool:
    """INBOX is case-insensitive (RFC 3501 §5.1); every other name is compared as written."""
    return _folder_key(a) == _folder_key(b)


def is_excluded(folder: str, exclusion_folders: tuple[str, ...]) -> bool:
    """An exclusion folder shuts out its sub-folders too: `Archive` excludes `Archive/2023`."""
    key = _folder_key(folder)
    for excluded in exclusion_folders:
        prefix = _folder_key(excluded)
        if key == prefix or key.startswith(prefix + "/"):
            return True
    return False


def _folder_key(name: str) -> str:
    head, sep, rest = name.strip("/").partition("/")
    return (head.upper() if head.upper() == "INBOX" else head) + sep + rest


def _check_folder_name(field_name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip("/ "):
        raise SourceConfigError(field_name, "must be a folder name")
    if _CONTROL.search(value):
        raise SourceConfigError(field_name, f"{value!r} contains control characters")
    if "//" in value or value.startswith("/") or value.endswith("/"):
        raise SourceConfigError(field_name, f"{value!r}: write sub-folders as Parent/Child")


def _check_choice(field_name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SourceConfigError(field_name, f"{value!r} is not one of {', '.join(choices)}")


def _check_int(field_name: str, value: object) -> None:
    """Within the bounds the declaration gives (`connector.resources.mail_source`)."""
    low, high = BY_NAME[field_name].bounds()
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SourceConfigError(field_name, f"{value!r} is not a whole number from {low} to {high}")
