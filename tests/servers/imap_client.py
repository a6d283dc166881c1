"""The test's own view of a mailbox: a plain imaplib session as the user, independent of the
adapter under test, for delivering mail and for checking what the adapter did on the server.

Folder names are the server's own (Dovecot separates levels with "."), in Unicode; they are
sent in modified UTF-7 (RFC 3501 §5.1.3).
"""

from __future__ import annotations

import contextlib
import imaplib
import re
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from types import TracebackType
from typing import Any, Self

from imap_tools.imap_utf7 import utf7_decode, utf7_encode

_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")
_LIST_NAME = re.compile(rb'^\([^)]*\) (?:"[^"]*"|NIL) (.+)$')


@dataclass(frozen=True)
class StoredMessage:
    uid: int
    flags: frozenset[str]
    size: int
    message_id: str | None
    subject: str | None


class ImapAdmin:
    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self._client = imaplib.IMAP4(host, port, timeout=10)
        _ok(self._client.login(username, password), "LOGIN")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self._client.logout()

    def deliver(
        self,
        raw: bytes,
        folder: str = "INBOX",
        *,
        flags: tuple[str, ...] = (),
        internal_date: datetime | None = None,
    ) -> int:
        """APPEND a message as the user; returns the UID the server gave it (RFC 4315)."""
        typ, data = self._client.append(
            _quote(folder), f"({' '.join(flags)})" if flags else None, internal_date, raw
        )
        _ok((typ, data), "APPEND")
        match = _APPENDUID.search(data[0])
        assert match, f"no APPENDUID in {data!r}"
        return int(match.group(1))

    def create_folder(self, folder: str) -> None:
        _ok(self._client.create(_quote(folder)), "CREATE")

    def delete_folder(self, folder: str) -> None:
        _ok(self._client.delete(_quote(folder)), "DELETE")

    def list_folders(self) -> list[str]:
        typ, data = self._client.list()
        _ok((typ, data), "LIST")
        names = []
        for line in data:
            match = _LIST_NAME.match(line if isinstance(line, bytes) else b"")
            if match:
                names.append(utf7_decode(match.group(1).strip(b'"')))
        return names

    def status(self, folder: str) -> dict[str, int]:
        typ, data = self._client.status(_quote(folder), "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
        _ok((typ, data), "STATUS")
        inner = data[0].rsplit(b"(", 1)[1].rstrip(b")").split()
        return {inner[i].decode(): int(inner[i + 1]) for i in range(0, len(inner), 2)}

    def set_flags(self, folder: str, uid: int, flags: tuple[str, ...], *, add: bool = True) -> None:
        _ok(self._client.select(_quote(folder)), "SELECT")
        command = "+FLAGS" if add else "-FLAGS"
        _ok(self._client.uid("STORE", str(uid), command, f"({' '.join(flags)})"), "STORE")
        self._client.close()

    def messages(self, folder: str = "INBOX") -> list[StoredMessage]:
        """What is in a folder, read-only (EXAMINE) and without setting \\Seen (BODY.PEEK)."""
        _ok(self._client.select(_quote(folder), readonly=True), "EXAMINE")
        typ, data = self._client.uid("SEARCH", "ALL")
        _ok((typ, data), "SEARCH")
        if not data[0]:
            self._client.close()
            return []
        typ, data = self._client.uid(
            "FETCH", "1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT)])"
        )
        _ok((typ, data), "FETCH")
        self._client.close()
        stored = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            head, header_bytes = item
            uid, size, flags = _UID.search(head), _SIZE.search(head), _FLAGS.search(head)
            assert uid and size and flags, f"unexpected FETCH response {head!r}"
            headers = BytesHeaderParser().parsebytes(header_bytes)
            stored.append(
                StoredMessage(
                    uid=int(uid.group(1)),
                    flags=frozenset(flags.group(1).decode().split()),
                    size=int(size.group(1)),
                    message_id=headers["Message-ID"],
                    subject=headers["Subject"],
                )
            )
        return sorted(stored, key=lambda message: message.uid)


def _quote(folder: str) -> str:
    encoded = utf7_encode(folder).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(result: tuple[str, list[Any]], command: str) -> None:
    typ, data = result
    if typ != "OK":
        raise AssertionError(f"{command} failed: {typ} {data!r}")
