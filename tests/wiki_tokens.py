"""A small reader of Jira wiki markup, for tests: which markup a rendered text holds.

Written from Jira's text formatting notation, independently of `connector.jira.wiki_escape`:
it reads markup the way the renderer would (a backslash escapes the next character, `\\\\` is
a line break, `{noformat}`/`{code}` bodies are literal) and counts every construct it finds.
Tests compare that count with what the ADF document asked for: markup beyond it came from
text. `visible_text` undoes the escaping, to check that text reads as it was written.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

ESCAPED = "\ue000"  # stands for an escaped character: neither a letter nor white space
_FENCED = re.compile(r"\{(noformat|code)(?::[^}]*)?\}(.*?)\{\1\}", re.DOTALL | re.IGNORECASE)
_LINE_MARKUP = {
    "heading": re.compile(r"\s*h[1-6]\.\s"),
    "bq": re.compile(r"\s*bq\.\s"),
    "rule": re.compile(r"\s*-{4,}\s*$"),
    "list": re.compile(r"\s*[*#-]+\s"),
    "table": re.compile(r"\s*\|"),
}
_MONOSPACE = re.compile(r"\{\{.*?\}\}")
_MACRO = re.compile(r"\{[A-Za-z][\w-]*(?::[^}]*)?\}")
_LINK = re.compile(r"\[[^\]\n]+\]")
_IMAGE = re.compile(r"![^\s!][^!\n]*!")
_CITATION = re.compile(r"\?\?\S(?:.*?\S)?\?\?")
PHRASES = {
    "strong": "*",
    "em": "_",
    "strike": "-",
    "underline": "+",
    "sup": "^",
    "sub": "~",
}


def _phrase(delimiter: str) -> re.Pattern[str]:
    d = re.escape(delimiter)
    return re.compile(rf"(?<![A-Za-z0-9]){d}(?=\S)(?:[^\n]*?\S)?{d}(?![A-Za-z0-9])")


_PHRASE_PATTERNS = {kind: _phrase(d) for kind, d in PHRASES.items()}


def _unescaped(text: str) -> str:
    """`\\\\` as a line-break mark, `\\X` as a neutral placeholder."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            out.append(" " if text[index + 1] == "\\" else ESCAPED)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def markup(wiki: str) -> Counter[str]:
    """How many of each construct the renderer would build from `wiki`."""
    found: Counter[str] = Counter()
    found["macro"] += 2 * len(_FENCED.findall(wiki))
    text = _FENCED.sub(" ", wiki)
    for line in _unescaped(text).split("\n"):
        table_line = False
        for kind, pattern in _LINE_MARKUP.items():
            if pattern.match(line):
                found[kind] += 1
                table_line = table_line or kind == "table"
        if _LINE_MARKUP["rule"].match(line):
            continue
        for pattern, kind in ((_MONOSPACE, "monospace"), (_MACRO, "macro")):
            found[kind] += len(pattern.findall(line))
            line = pattern.sub(" ", line)
        links = _LINK.findall(line)
        found["link"] += len(links)
        line = _LINK.sub(" ", line)
        found["image"] += len(_IMAGE.findall(line))
        found["citation"] += len(_CITATION.findall(line))
        if not table_line:
            found["pipe"] += line.count("|")
        for kind, pattern in _PHRASE_PATTERNS.items():
            found[kind] += len(pattern.findall(line))
    return +found


def visible_text(wiki: str) -> str:
    """What a reader sees of escaped text: escapes and character references undone."""
    return html.unescape(re.sub(r"\\(.)", r"\1", wiki))


def expected_markup(document: Mapping[str, Any]) -> Counter[str]:
    """An upper bound, per construct, of the markup the document itself asks for."""
    wanted: Counter[str] = Counter()
    stack: list[Mapping[str, Any]] = [document]
    while stack:
        node = stack.pop()
        kind = node.get("type")
        stack += [c for c in node.get("content") or [] if isinstance(c, Mapping)]
        if kind == "heading":
            wanted["heading"] += 1
        elif kind == "listItem":
            wanted["list"] += 1
        elif kind == "rule":
            wanted["rule"] += 1
        elif kind == "tableRow":
            wanted["table"] += 1
        elif kind in {"blockquote", "codeBlock"}:
            wanted["macro"] += 2
            text = "".join(str(c.get("text", "")) for c in node.get("content") or [])
            wanted["monospace"] += text.count("\n") + 1
        elif kind in {"mention", "inlineCard"}:
            wanted["link"] += 1
        elif kind in {"media", "mediaInline"}:
            wanted["image"] += 1
            wanted["link"] += 1
            wanted["em"] += 1  # a name the syntax cannot hold is an italic placeholder
        elif kind == "text":
            for mark in node.get("marks") or []:
                name = mark.get("type")
                if name == "subsup":
                    name = (mark.get("attrs") or {}).get("type")
                wanted[{"code": "monospace"}.get(str(name), str(name))] += 1
    return wanted


def leaked_markup(wiki: str, document: Mapping[str, Any]) -> Counter[str]:
    """Constructs found in `wiki` beyond what `document` asked for (empty when none)."""
    return markup(wiki) - expected_markup(document)
