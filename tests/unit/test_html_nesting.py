"""HTML nesting capped before the sanitiser (connector/mail/html_nesting.py)."""

from __future__ import annotations

import re

import pytest

from connector.mail.html import sanitize_html
from connector.mail.html_nesting import cap_nesting


def _depth(html: str) -> int:
    deepest = depth = 0
    for closing, _ in re.findall(r"<(/?)(div|span|b)\b[^>]*>", html):
        depth += -1 if closing else 1
        deepest = max(deepest, depth)
    return deepest


def test_cap_nesting_deep_divs_cut_at_the_limit_text_kept() -> None:
    html = "<div>" * 1000 + "deep" + "</div>" * 1000
    capped = cap_nesting(html, limit=50, scan_above=0)
    assert capped == "<div>" * 50 + "deep" + "</div>" * 50


def test_cap_nesting_few_tags_returned_as_is() -> None:
    html = "<div>" * 1000 + "x"
    assert cap_nesting(html, limit=50, scan_above=1000) is html
    assert cap_nesting(html, limit=50, scan_above=999) == "<div>" * 50 + "x"


def test_cap_nesting_unclosed_paragraphs_and_void_tags_not_counted() -> None:
    html = "<p>line<br><img src=x>" * 500
    assert cap_nesting(html, limit=50, scan_above=0) == html


def test_cap_nesting_markup_in_comments_quotes_and_scripts_not_counted() -> None:
    inner = (
        "<!-- <div><div> --><a title=\"x > <div>\" href='<div>'>link</a>"
        "<script>if (a<div) { '<div>' }</script><style>div>p{}</style>"
    )
    html = "<div>" * 10 + inner * 20 + "</div>" * 10
    assert cap_nesting(html, limit=11, scan_above=0) == html  # the ten divs and each link


def test_cap_nesting_script_past_the_limit_kept_whole() -> None:
    html = "<div>" * 20 + "<script>secret()</script>" + "</div>" * 20
    assert "<script>secret()</script>" in cap_nesting(html, limit=5, scan_above=0)


def test_cap_nesting_unterminated_quote_ends_at_the_end() -> None:
    html = "<div>" * 100 + '<div title="never closed>' + "x" * 100
    assert cap_nesting(html, limit=10, scan_above=0) == "<div>" * 10


@pytest.mark.timeout(60)  # a hang guard: nh3 took 9.6-26 s on this before the cap
def test_sanitize_html_100000_nested_divs_bounded_and_text_kept() -> None:
    html = "<div>" * 100_000 + "deep" + "</div>" * 100_000
    cleaned = sanitize_html(html)
    assert "deep" in cleaned
    assert _depth(cleaned) <= 256
