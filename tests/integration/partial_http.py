"""HTTP requests whose body is never finished: to show a server answered without reading it.

An HTTP client library sends the whole body before it reads the answer, so it cannot tell
"refused at once" from "read everything, then refused". Here the request line, the headers and
only the start of the body go out on a raw socket, and the answer is read while the rest of
the body is still owed: if the server waited for the body, the read times out.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

ANSWER_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def send_partial(
    base_url: str,
    method: str,
    path: str,
    *,
    start: bytes,
    declared_length: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """Send `start` as the first bytes of a body that is never completed, read the answer.

    With `declared_length`, the body is announced with `Content-Length`; without it, it is sent
    chunked (`start` in chunks of up to 64 KiB) and the closing chunk never comes.
    """
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if declared_length is not None:
        lines.append(f"Content-Length: {declared_length}")
        body = start
    else:
        lines.append("Transfer-Encoding: chunked")
        step = 64 * 1024
        body = b"".join(
            b"%x\r\n%s\r\n" % (len(start[i : i + step]), start[i : i + step])
            for i in range(0, len(start), step)
        )
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection((host, port), timeout=ANSWER_TIMEOUT_SECONDS) as sock:
        sock.sendall(head)
        # The server may stop reading once it has refused; its answer is still there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(body)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        return Answer(
            status=response.status,
            body=response.read(),
            headers={name.lower(): value for name, value in response.getheaders()},
        )
