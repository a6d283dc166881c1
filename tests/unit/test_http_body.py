"""Capped body reading and JSON parsing without recursion (connector/http_body.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from starlette.requests import Request
from starlette.types import Message

from connector import http_body
from connector.http_body import (
    MAX_JSON_DEPTH,
    BodyError,
    json_too_deep,
    parse_json,
    parse_json_async,
    read_body,
)
from tests.loops import run_isolated
from tests.timing import growth_ratio


class EndlessBody:
    """An ASGI `receive` that hands out `chunk` forever, counting what was taken."""

    def __init__(self, chunk: bytes) -> None:
        self.chunk = chunk
        self.taken = 0

    async def __call__(self) -> Message:
        self.taken += 1
        return {"type": "http.request", "body": self.chunk, "more_body": True}


def _request(receive: EndlessBody, headers: dict[str, str] | None = None) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    return Request(scope, receive)


def test_read_body_declared_length_over_limit_reads_nothing() -> None:
    receive = EndlessBody(b"x" * 1024)
    with pytest.raises(BodyError) as refused:
        run_isolated(read_body(_request(receive, {"Content-Length": "10241"}), limit=10240))
    assert refused.value.status == 413
    assert receive.taken == 0


def test_read_body_endless_stream_stops_just_past_the_limit() -> None:
    receive = EndlessBody(b"x" * 1024)
    with pytest.raises(BodyError) as refused:
        run_isolated(read_body(_request(receive), limit=10 * 1024))
    assert refused.value.status == 413
    assert receive.taken == 11


def test_read_body_bad_content_length_is_400() -> None:
    with pytest.raises(BodyError) as refused:
        run_isolated(read_body(_request(EndlessBody(b""), {"Content-Length": "-1"}), limit=10))
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        ("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, False),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), True),
        ("[" * 100_000, True),
        ('{"a": ' * 65 + "1" + "}" * 65, True),
        # Brackets inside strings are text, escaped quotes do not end a string.
        (json.dumps({"text": "[" * 10_000, "more": '\\"{{{{' * 1000}), False),
        # A closing bracket in a string cannot hide real nesting.
        ('["' + "]" * 100 + '", ' + "[" * 64 + "]" * 64 + "]", True),
        # Not JSON at all (an unterminated string): the scan still ends, in linear time.
        ('"' + '\\"[' * 10_000, False),
    ],
    ids=["at-limit", "one-over", "100000-open", "objects", "strings", "hidden", "unterminated"],
)
def test_json_too_deep_counts_structure_not_text(text: str, too_deep: bool) -> None:
    assert json_too_deep(text) is too_deep


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000, f"deeper than {MAX_JSON_DEPTH} levels"),
        (b'{"a": ', "not JSON"),
        (b"\xff\xfe\xfd", "not JSON"),
        (b"", "not JSON"),
    ],
    ids=["deep", "truncated", "not-utf8", "empty"],
)
def test_parse_json_refusals_are_400(raw: bytes, reason: str) -> None:
    with pytest.raises(BodyError) as refused:
        parse_json(raw)
    assert refused.value.status == 400
    assert reason in refused.value.message


def test_parse_json_reads_utf16_as_the_json_module_does() -> None:
    assert parse_json('{"name": "Zoë"}'.encode("utf-16")) == {"name": "Zoë"}


def test_parse_json_async_large_body_parses_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[str] = []
    real: Callable[[bytes], object] = http_body.parse_json

    def recording(raw: bytes) -> object:
        threads.append(threading.current_thread().name)
        return real(raw)

    monkeypatch.setattr(http_body, "parse_json", recording)
    small = json.dumps({"a": 1}).encode()
    large = json.dumps({"a": "x" * (http_body.THREAD_THRESHOLD_BYTES + 1)}).encode()

    async def parse_both() -> tuple[str, Any, Any]:
        loop_thread = threading.current_thread().name
        return loop_thread, await parse_json_async(small), await parse_json_async(large)

    loop_thread, small_value, large_value = run_isolated(parse_both())
    assert small_value == {"a": 1} and large_value["a"].startswith("x")
    assert threads[0] == loop_thread
    assert threads[1] != loop_thread


@pytest.mark.parametrize(
    "unit",
    ["[", '["]",', '"\\"[', "{}"],
    ids=["open", "strings-with-brackets", "escaped-quotes", "empty-objects"],
)
def test_json_too_deep_time_grows_linearly(unit: str) -> None:
    # Ratios, not wall times: 8x the input may cost at most ~3x more than linear.
    small = unit * 50_000
    large = unit * 400_000
    ratio = growth_ratio(json_too_deep, small, large)
    assert ratio < 24
