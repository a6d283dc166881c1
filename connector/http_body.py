"""Request bodies read with a cap, and JSON parsed without stalling the server or recursing.

Every route that reads a body reads it through `read_body`: a `Content-Length` over the route's
cap is refused before a byte is read, and a body without one (chunked) or with one that lies is
counted as it streams in and refused the moment it passes the cap, so no request makes the
server hold more than the cap. Routes authenticate from the headers first and read the body
after, so an unauthenticated request is refused without its body being read at all.

`parse_json` answers 400 for anything that is not JSON, and for nesting deeper than
`MAX_JSON_DEPTH`, found by a linear scan before the parser runs: the standard parser recurses
once per level and would otherwise end in a RecursionError (a 500, and a stack held at its
limit). Large bodies are parsed in a worker thread so the event loop keeps answering.
"""

from __future__ import annotations

import json
import re
from array import array
from itertools import accumulate
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

# Per-route caps. Lifecycle payloads are a dozen short fields (developer.atlassian.com/cloud/
# jira/platform/connect-app-descriptor/#lifecycle): a few hundred bytes.
LIFECYCLE_MAX_BYTES = 64 * 1024
# Jira's issue webhooks carry the fields and, for an update, the changelog with the old
# and new text of each changed field. Jira caps a text field at 32,767 characters (at most
# ~128 KB in UTF-8), so a description edit on an issue with a few long text fields is several
# hundred KB; 4 MiB leaves room for that while bounding what a tenant can make us hold.
WEBHOOK_MAX_BYTES = 4 * 1024 * 1024
# The admin API's own objects (a mail source, a routing table, notification templates).
ADMIN_MAX_BYTES = 256 * 1024

# Jira's payloads and the admin API's objects nest a handful of levels; ADF, two JSON levels
# per node, stays under 20 even for a list in a table in a panel.
MAX_JSON_DEPTH = 64
# Parsing below this size takes well under a millisecond: not worth a thread hop.
THREAD_THRESHOLD_BYTES = 32 * 1024

# A JSON string literal: its brackets are not structure. Possessive, and the closing quote is
# optional, so a match never fails and never restarts: linear even on unterminated strings.
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
# Brackets become signed steps (+1 open, -1 close); every other byte is dropped.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


class BodyError(Exception):
    """A body refused before use; the message is safe to show the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(request: Request, *, limit: int) -> bytes:
    """The body, at most `limit` bytes; 413 as soon as it is known to be larger."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BodyError(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise BodyError(413, f"the request body is over {limit} bytes")
    received = bytearray()
    try:
        async for chunk in request.stream():
            received += chunk
            if len(received) > limit:
                raise BodyError(413, f"the request body is over {limit} bytes")
    except ClientDisconnect:
        raise BodyError(400, "the client went away before sending the whole body") from None
    return bytes(received)


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects in `text` nest more than `limit` levels (for text that is not
    JSON the answer may be yes where the parser would have refused it anyway).

    Linear, and each step in C: string literals are removed, the remaining brackets become
    +1/-1 steps (`bytes.translate`, read as signed bytes) and their running sum is taken with
    `accumulate`; no Python statement runs per character.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    structure = _STRING.sub("", text).encode("utf-8", "surrogatepass")
    steps = array("b", structure.translate(_STEPS, _NOT_BRACKETS))
    return max(accumulate(steps), default=0) > limit


def parse_json(raw: bytes) -> Any:
    """The JSON value of `raw`, or BodyError(400) saying why not."""
    try:
        # As `json.loads(bytes)` does: UTF-8, or UTF-16/32 recognised by their first bytes.
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    except UnicodeDecodeError:
        raise BodyError(400, "the request body is not JSON: not valid UTF-8") from None
    if json_too_deep(text):
        raise BodyError(400, f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BodyError(400, f"the request body is not JSON: {exc}") from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise BodyError(400, "the request body nests too deeply") from None


async def parse_json_async(raw: bytes) -> Any:
    """`parse_json`, in a worker thread when the body is large enough to hold up the loop."""
    if len(raw) <= THREAD_THRESHOLD_BYTES:
        return parse_json(raw)
    return await run_in_threadpool(parse_json, raw)


async def read_json_object(request: Request, *, limit: int) -> dict[str, Any]:
    """The body as a JSON object: 413 over `limit`, 400 for anything but a JSON object."""
    parsed = await parse_json_async(await read_body(request, limit=limit))
    if not isinstance(parsed, dict):
        raise BodyError(400, "the request body is not a JSON object")
    return parsed
