"""multipart/form-data parsing for attachment uploads (RFC 7578).

Done by hand because Starlette's form parser needs python-multipart, which the project does not
depend on; byte-exact bodies matter here since tests compare stored attachments.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser


@dataclass(frozen=True)
class FormPart:
    name: str | None
    filename: str | None
    content_type: str
    content: bytes


class MultipartError(ValueError):
    pass


def parse_form_data(content_type: str, body: bytes) -> list[FormPart]:
    header = Message()
    header["Content-Type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        raise MultipartError(f"expected multipart/form-data, got {header.get_content_type()}")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise MultipartError("multipart/form-data without a boundary")
    # The CRLF before a boundary belongs to the delimiter (RFC 2046 section 5.1.1); leading one
    # is added so the first boundary looks like the others.
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise MultipartError("multipart body is not terminated by its closing boundary")
    parts = []
    # The first chunk is the preamble, the last the epilogue after the closing `--`.
    for chunk in chunks[1:-1]:
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator or not head.startswith(b"\r\n"):
            raise MultipartError("malformed multipart part")
        headers = HeaderParser().parsestr(head[2:].decode("utf-8", errors="replace"))
        parts.append(
            FormPart(
                name=_param(headers, "name"),
                filename=headers.get_filename(),
                content_type=headers.get_content_type()
                if "content-type" in headers
                else "application/octet-stream",
                content=content,
            )
        )
    return parts


def _param(headers: Message, name: str) -> str | None:
    value = headers.get_param(name, header="content-disposition")
    if isinstance(value, tuple):
        # RFC 2231 continuation: (charset, language, text)
        return value[2]
    return value
