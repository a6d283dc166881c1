"""Patterns and text handling grow linearly on hostile input (issue 12, item 2).

Mail is written by strangers, and `re` holds the GIL while it backtracks: one quadratic pattern
on a long line stalls every tenant. Each compiled pattern of the `connector` package (found by
import, so a new one is covered without being listed) is timed on inputs built for it
(`tests.pattern_attacks`) at two sizes, n and 8n: linear work grows about 8 times, quadratic
64 times. So are the public functions that read a body, on the shapes that used to be slow.
Timings are compared as ratios, measured again (best of five) before failing, and ignored
below a floor no quadratic run reaches at these sizes, so a busy machine does not fail them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

import connector
from connector.jira.adf import text_to_adf
from connector.mail.html import sanitize_html
from connector.pipeline.understanding import understand
from connector.routing.match import clean_subject
from tests.pattern_attacks import Target, attacks, hostile_text, pattern_uses

GROWTH = 8
MAX_RATIO = 20.0  # 8x the input: linear ~8x, quadratic ~64x; between them, room for noise
SMALL = 128  # characters, for single patterns
# A quadratic pattern on 1,024 characters makes half a million steps: milliseconds.
PATTERN_FLOOR_SECONDS = 0.0005
# Nested repetition, `(a+)+`, is exponential: it would not finish at SMALL, so a short input
# comes first, on which linear work takes microseconds.
PROBE = 20
PROBE_SECONDS = 0.01
BODY = 4_000  # characters, for whole messages
BODY_FLOOR_SECONDS = 0.02

TARGETS = pattern_uses(connector, skip=(".migrations",))


def _best(run: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
        if best > 0.2:
            break  # clearly slow: once is enough
    return best


def _growth(
    run: Callable[[Any], object], build: Callable[[int], Any], size: int, floor: float
) -> tuple[float, float]:
    """Seconds for `run(build(size))` and `run(build(size * GROWTH))`. A first look that says
    super-linear is measured again, best of five, to tell a slow pattern from a busy machine."""
    small, large = build(size), build(size * GROWTH)
    times = _best(lambda: run(small), 1), _best(lambda: run(large), 1)
    if _superlinear(times, floor):
        times = _best(lambda: run(small), 5), _best(lambda: run(large), 5)
    return times


def _superlinear(times: tuple[float, float], floor: float) -> bool:
    small, large = times
    return large > floor and large > MAX_RATIO * small


def test_pattern_uses_finds_the_patterns_that_read_mail_and_how_they_are_called() -> None:
    by_name = {target.name: target for target in TARGETS}
    assert {
        "connector.jira.adf._LINK",
        "connector.mail.attribution._VERB_END_RE",
        "connector.mail.quotes._LABEL_LINE_RE",
        "connector.routing.match._PREFIX",
    } <= set(by_name)
    assert by_name["connector.jira.adf._LINK"].scanning  # finditer
    assert by_name["connector.jira.adf._BULLET"].methods == ("fullmatch",)


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.name)
def test_pattern_hostile_input_grows_linearly(target: Target) -> None:
    for attack in attacks(target.pattern):
        shape = f"{target.name} on {attack[0]!r} + {attack[1]!r} * n + {attack[2]!r}"
        probe = hostile_text(target.pattern, attack, PROBE)
        took = _best(lambda: target.run(probe), repeats=3)  # noqa: B023 - called at once
        assert took < PROBE_SECONDS, f"{shape}: {took * 1e3:.1f} ms at n={PROBE}, exponential?"
        times = _growth(
            target.run,
            lambda size: hostile_text(target.pattern, attack, size),  # noqa: B023
            SMALL,
            PATTERN_FLOOR_SECONDS,
        )
        assert not _superlinear(times, PATTERN_FLOOR_SECONDS), (
            f"{shape}: {times[0] * 1e3:.2f} ms at n={SMALL}, "
            f"{times[1] * 1e3:.2f} ms at n={SMALL * GROWTH}"
        )


def _mail(body: str, *, html: bool = False) -> bytes:
    kind = "html" if html else "plain"
    return (
        "From: Ada <ada@customer.example>\r\nTo: help@example.com\r\nSubject: Hello\r\n"
        f"Message-ID: <1@customer.example>\r\nContent-Type: text/{kind}; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


# Bodies shaped like what used to be quadratic or worse somewhere on the way to Jira.
HOSTILE_BODIES: dict[str, Callable[[int], bytes]] = {
    "one long word": lambda n: _mail("a" * n),
    "address characters without a domain": lambda n: _mail("a@" * (n // 2)),
    "link ending in brackets": lambda n: _mail("see http://x.example/" + ")" * n),
    "link ending in dots": lambda n: _mail("see http://x.example/" + "." * n),
    "attribution without its colon": lambda n: _mail(
        "Thanks\n\nOn 1 Jan 2020, ada@customer.example wrote" + " " * n + "x\n> quoted"
    ),
    "mid-line attribution after dashes": lambda n: _mail("ok -" + "-" * n + " On 1 Jan"),
    "header label without colon": lambda n: _mail("Thanks\nFrom" + " " * n + "x"),
    "banner without rule": lambda n: _mail("Thanks\n-- Original" + " " * n + "x"),
    "quote markers": lambda n: _mail("> " * (n // 2)),
    "unclosed html tags": lambda n: _mail("<p>" + "<a" * (n // 2), html=True),
    "unclosed html image": lambda n: _mail("<p><img" + " " * n, html=True),
}


@pytest.mark.parametrize("build", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_understand_hostile_body_grows_linearly(build: Callable[[int], bytes]) -> None:
    times = _growth(understand, build, BODY, BODY_FLOOR_SECONDS)
    assert not _superlinear(times, BODY_FLOOR_SECONDS), times


# Lines just under the length caps that keep the attribution and header-label checks bounded:
# within a cap, a quadratic (or cubic) pattern still cost up to a quarter second per line.
LINES_AT_THE_CAPS = {
    "attribution look-alikes": "On 1 Jan 2020 ada wrote" + " " * 560 + "x wrote",  # 0.22 s each
    "header labels without colon": "From" + " " * 2390 + "x",  # 36 ms each
}


@pytest.mark.parametrize("line", LINES_AT_THE_CAPS.values(), ids=LINES_AT_THE_CAPS.keys())
def test_understand_hundred_lines_at_the_length_caps_is_fast(line: str) -> None:
    started = time.perf_counter()
    understand(_mail("Thanks\n\n" + f"{line}\n" * 100))
    assert time.perf_counter() - started < 2.0  # milliseconds; it was 3.6 s and 22 s


def test_clean_subject_prefix_then_spaces_grows_linearly() -> None:
    times = _growth(clean_subject, lambda n: "Re:" + " " * n + "x", BODY, BODY_FLOOR_SECONDS)
    assert not _superlinear(times, BODY_FLOOR_SECONDS), times


def test_text_to_adf_200000_letter_word_is_fast() -> None:
    started = time.perf_counter()
    document = text_to_adf("a" * 200_000)
    assert time.perf_counter() - started < 3.0  # it took 224 s
    assert document["content"][0]["content"][0]["text"] == "a" * 200_000


def test_understand_200000_letter_word_is_fast() -> None:
    started = time.perf_counter()
    understanding = understand(_mail("x " + "a" * 200_000))
    assert time.perf_counter() - started < 5.0  # minutes, when the link search was quadratic
    assert understanding.description.fitted.truncated  # longer than a Jira field


def test_sanitize_html_escapes_angle_brackets_in_attributes_as_tag_patterns_assume() -> None:
    cleaned = sanitize_html('<img alt="a<b>c" src="cid:x"><a title="<p>" href="http://x">y</a>')
    assert "<b>" not in cleaned and "<p>" not in cleaned
    assert cleaned.count("<") == cleaned.count(">") == 3
