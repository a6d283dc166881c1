"""A server that sends "+ idling" and "* 5 EXISTS" in one packet: the second line sits in
imaplib's buffer, where no selector sees it, and must still be reported at once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from connector.push.idle_watcher import IdleWatcher
from connector.sources.config import SourceConfig
from tests.fakes.network import loopback_policy

_ANSWERS = {
    b"LOGIN": b"{tag} OK logged in\r\n",
    b"CAPABILITY": b"* CAPABILITY IMAP4rev1 IDLE\r\n{tag} OK done\r\n",
    b"LIST": b'* LIST () "/" ""\r\n{tag} OK done\r\n',
    b"SELECT": b"* 4 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 5] n\r\n{tag} OK sel\r\n",
    # The continuation and the news in one write, as a server that corks its output does.
    b"IDLE": b"+ idling\r\n* 5 EXISTS\r\n",
}


def _serve(listener: socket.socket) -> None:
    connection, _ = listener.accept()
    with connection, connection.makefile("rb") as lines:
        connection.sendall(b"* OK fake IMAP ready\r\n")
        for line in lines:
            tag, _, rest = line.strip().partition(b" ")
            answer = _ANSWERS.get(rest.split(b" ")[0].upper())
            if answer is None:
                break  # DONE, LOGOUT: the test is over
            connection.sendall(answer.replace(b"{tag}", tag))


@pytest.fixture
def fake_server() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=_serve, args=(listener,), daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()


def test_news_in_the_same_packet_as_the_continuation_is_reported(fake_server: int) -> None:
    config = SourceConfig(
        "imap",
        "127.0.0.1",
        fake_server,
        "support",
        password="secret",
        security="none",
        host_policy=loopback_policy(),
    )
    reported = threading.Event()
    watcher = IdleWatcher(lambda _source: reported.set())
    watcher.start()
    try:
        watcher.watch("support", config)
        # The fake server sends nothing more: only reading imaplib's buffer finds the news.
        assert reported.wait(3.0)
        assert watcher.state("support").pushing
    finally:
        watcher.stop(timeout=2.0)
