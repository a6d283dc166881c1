"""What a mail source raises on purpose; anything else is a bug in the adapter.

The scheduler treats them differently: `SourceAuthError` and `SourceConfigError` put the source
into an error state an admin sees (with the server's own words), `SourceConnectionError` is
retried with backoff from the caller's cursor, `MessageTooLarge` and `MessageVanished` concern
one message only and never block the mailbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.sources.base import MessageRef


class SourceError(Exception):
    """Base of the errors below."""


class SourceConfigError(SourceError, ValueError):
    """A setting that cannot work; `field` names it as the admin API spells it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class SourceConnectionError(SourceError):
    """The server could not be reached, or the connection broke (network, TLS, server restart).

    Nothing was marked done that the caller does not know about: reconnect and continue from
    the caller's cursor.
    """


class SourceTlsError(SourceConnectionError):
    """The TLS handshake failed, most often because the certificate was not trusted."""


class SourceAuthError(SourceError):
    """The server refused the credentials; `server_message` is what it said, verbatim."""

    def __init__(self, message: str, server_message: str) -> None:
        super().__init__(f"{message}: {server_message}" if server_message else message)
        self.server_message = server_message


class FolderNotFound(SourceError):
    def __init__(self, folder: str, server_message: str = "") -> None:
        detail = f" (server: {server_message})" if server_message else ""
        super().__init__(f"folder {folder!r} does not exist on the server{detail}")
        self.folder = folder
        self.server_message = server_message


class MessageTooLarge(SourceError):
    """Over `max_message_bytes`: not downloaded; `mark_done(ref, success=False)` sets it aside."""

    def __init__(self, ref: MessageRef, limit: int) -> None:
        super().__init__(
            f"message {ref.uid} in {ref.folder!r} is {ref.size} bytes, over the limit of {limit}"
        )
        self.ref = ref
        self.limit = limit


class MessageVanished(SourceError):
    """Someone else removed the message between listing and fetching; there is nothing to do."""

    def __init__(self, ref: MessageRef) -> None:
        super().__init__(f"message {ref.uid} is no longer in {ref.folder!r}")
        self.ref = ref
