"""HTML nesting bounded before the sanitiser reads it.

nh3 (html5ever's tree builder) checks the stack of open elements for every start tag, so its
time grows with tags times depth: 100,000 nested `<div>`s (1.1 MB) took 9.6 to 26 s.
`parse_fragment` keeps only `MAX_DEPTH` (80) levels of what nh3 returns anyway, so tags
nested far deeper can go before nh3 sees them, their text kept.

This is a tokenizer's view, not a tree builder's: it counts start and end tags, skipping
comments and quoted attribute values (WHATWG HTML §13.2.5), and it leaves alone void
elements, `script`/`style`-like elements (their content is text, kept or dropped whole by
nh3) and those whose end tag may be left out (`p`, `li`, `td`, ...: the tree builder closes
them itself, so an unclosed one nests nothing). Unclosed `<div>` or `<font>` do nest, for
the tree builder as for this count. It only runs on fragments with more than `SCAN_ABOVE`
tags, and is linear: every search starts where the last one ended.
"""

from __future__ import annotations

import re
from functools import cache

MAX_NESTING = 256  # well above the 80 levels kept after sanitising
# Below this many "<", nh3 reads even a fully nested fragment in about 0.3 s, and the pass
# here (about 1.7 µs a tag) would slow every newsletter for nothing.
SCAN_ABOVE = 10_000
_MARKUP = re.compile(r"<(?:(/?)([a-zA-Z][a-zA-Z0-9]*)|!--)")
_TAG_STOP = re.compile(r"[>=]")
_SPACE = " \t\n\r\f"
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr", "basefont", "bgsound", "frame", "keygen"}
)
_OPTIONAL_END = frozenset(
    {"p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "colgroup"}
    | {"caption", "option", "optgroup", "rb", "rt", "rp", "rtc", "html", "head", "body"}
)
_RAW_TEXT = frozenset(
    {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes"}
)


@cache
def _raw_text_end(name: str) -> re.Pattern[str]:
    return re.compile("</" + name, re.IGNORECASE)


def _tag_end(html: str, position: int) -> int:
    """Where the tag whose name ends at `position` ends: after its `>`, skipping `>` inside
    quoted attribute values; the end of `html` when it never closes."""
    while True:
        stop = _TAG_STOP.search(html, position)
        if stop is None:
            return len(html)
        if html[stop.start()] == ">":
            return stop.end()
        position = stop.end()
        while position < len(html) and html[position] in _SPACE:
            position += 1
        if position < len(html) and html[position] in "\"'":
            close = html.find(html[position], position + 1)
            if close < 0:
                return len(html)
            position = close + 1


def cap_nesting(html: str, limit: int = MAX_NESTING, *, scan_above: int = SCAN_ABOVE) -> str:
    """`html` without the start and end tags nested deeper than `limit`; as it is when it
    holds no more than `scan_above` "<"."""
    if html.count("<") <= max(limit, scan_above):
        return html
    kept: list[str] = []
    copied = depth = position = 0
    while (found := _MARKUP.search(html, position)) is not None:
        closing, name = found.group(1, 2)
        if name is None:  # a comment: nothing in it is markup
            end = html.find("-->", found.end())
            position = len(html) if end < 0 else end + 3
            continue
        position = _tag_end(html, found.end())
        name = name.lower()
        if name in _RAW_TEXT and not closing:  # kept whole: its text is not markup
            text_end = _raw_text_end(name).search(html, position)
            position = len(html) if text_end is None else text_end.start()
        if name in _VOID or name in _OPTIONAL_END or name in _RAW_TEXT:
            continue
        if closing:
            depth = max(depth - 1, 0)
        if depth >= limit:
            kept.append(html[copied : found.start()])
            copied = position
        if not closing:
            depth += 1
    kept.append(html[copied:])
    return "".join(kept)
