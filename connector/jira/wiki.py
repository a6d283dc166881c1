"""Jira wiki markup for descriptions and comments on Jira Data Center (REST API v2).

The pipeline builds one document model for every Jira: the Atlassian Document Format tree of
`connector.jira.adf` (from `text_to_adf`/`html_to_adf`, fitted by `fit_to_limit`, with the
author line of `connector.mail_fields`). Jira Data Center does not take ADF, so this module
renders that same tree as wiki markup (the notation of confluence.atlassian.com/jiracoreserver/
text-formatting-notation): whatever the ADF side decided (quotes, lists, tables, what a
placeholder says) holds on Data Center too. Every text from mail goes through
`connector.jira.wiki_escape`, so no markup comes from what the customer wrote.

    adf_to_wiki(document) -> str

How each node reads:
- paragraph: its lines, separated from the next block by a blank line; a `hardBreak` is a
  newline (the renderer shows it as a line break). Inside a list item, table cell or heading,
  where a newline would end the construct, a `hardBreak` is the forced break `\\\\`.
- heading: `h1.`..`h6.`; blockquote: `{quote}` around its blocks (`{quote}` does not nest, so
  an inner quote is flattened into the outer one); rule: `----`.
- codeBlock: `{noformat}` (no language guessing, no highlighting of mail text). Its content is
  literal there, so only the closing word matters: text holding `{noformat}` goes in `{code}`,
  text holding both is written as escaped lines in `{{monospace}}` instead.
- lists: `*` and `#` markers, nested by repeating them (`#*`); wiki lists cannot start at
  another number, so an ordered list's `order` is not kept. An item's later paragraphs and
  code join its first line with `\\\\`.
- table: `||header||` and `|cell|` rows; wiki tables have no spans, so a cell spanning n
  columns is followed by n-1 empty cells. A cell's blocks are joined with `\\\\`; lists in a
  cell read "• item".
- marks: `*strong*`, `_em_`, `-strike-`, `+underline+`, `^sup^`, `~sub~`, `{{code}}`, and links
  `[text|url]` (http, https and mailto only, as the ADF side allows; characters that would end
  the link are percent-encoded in the URL). White space at a marked run's edges is moved
  outside the delimiters, which the renderer needs next to text.
- mention: `[~username]` (Data Center mentions by user name; `attrs.id` is the name there, see
  `connector.jira.dialect`); a name that could not be written safely is shown as its text.
- media: an image (`mediaSingle`) is `!filename!`, any other file (`mediaGroup`,
  `mediaInline`) `[^filename]`, by the `alt` (else `id`) attribute: on Data Center an
  attachment is named by its filename. A name the syntax cannot hold reads "[image: name]".
- emoji, status, date, card: their text, escaped.
Pure: no IO.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from connector.jira.adf_render import adf_to_text
from connector.jira.wiki_escape import escape_lines, escape_text
from connector.mail.html import safe_link

Node = Mapping[str, Any]

FORCED_BREAK = " \\\\ "
CUT_NOTE = "_The message was too long for Jira and was cut here._"
_MARK_DELIMITERS = (  # innermost first
    ("code", "{{", "}}"),
    ("sub", "~", "~"),
    ("sup", "^", "^"),
    ("underline", "+", "+"),
    ("strike", "-", "-"),
    ("em", "_", "_"),
    ("strong", "*", "*"),
)
_SAFE_NAME = re.compile(r"[^\s\[\]|{}!~\\^]([^\[\]|{}!\\\x00-\x1f]*[^\s\[\]|{}!\\])?")
_SAFE_USERNAME = re.compile(r"[^\s\[\]|{}!~\\]{1,255}")
_URL_SAFE = ";/?:@&=+$,-_.~*'()#%"  # not "!", which delimits images
_ATOM_TEXT = {"emoji": "text", "status": "text", "date": "timestamp", "placeholder": "text"}


def _content(node: Node) -> list[Node]:
    content = node.get("content")
    return [child for child in content if isinstance(child, Mapping)] if content else []


def _attrs(node: Node) -> Mapping[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, Mapping) else {}


# --- inline ---------------------------------------------------------------------------------


def _marks(node: Node) -> tuple[set[str], str | None]:
    """The mark names in force (`sub`/`sup` for subsup) and a safe link target."""
    names: set[str] = set()
    link = None
    for mark in node.get("marks") or []:
        kind = mark.get("type") if isinstance(mark, Mapping) else None
        if kind == "link":
            link = safe_link(str(_attrs(mark).get("href") or ""))
        elif kind == "subsup":
            names.add("sub" if _attrs(mark).get("type") == "sub" else "sup")
        elif isinstance(kind, str):
            names.add(kind)
    return names, link


def link_target(href: str) -> str:
    """The URL as a wiki link holds it: nothing in it may end the link or start markup."""
    return quote(href, safe=_URL_SAFE)


def _text(node: Node, line_start: bool) -> str:
    raw = str(node.get("text") or "")
    names, link = _marks(node)
    core = raw.strip()
    if not core or not (names or link):
        return escape_text(raw, line_start=line_start)
    lead, tail = raw[: len(raw) - len(raw.lstrip())], raw[len(raw.rstrip()) :]
    # As if at a line start whatever its place: `*# x*` at one would read as a list marker.
    rendered = escape_text(core, line_start=True)
    for name, opening, closing in _MARK_DELIMITERS:
        if name in names:
            rendered = f"{opening}{rendered}{closing}"
    if link:
        rendered = f"[{rendered}|{link_target(link)}]"
    return f"{escape_text(lead)}{rendered}{escape_text(tail)}"


def mention(node: Node) -> str:
    attrs = _attrs(node)
    name = str(attrs.get("id") or "")
    if _SAFE_USERNAME.fullmatch(name):
        return f"[~{name}]"
    return escape_text(str(attrs.get("text") or name))


def _file_name(node: Node) -> str:
    media = next((c for c in _content(node) if c.get("type") == "media"), node)
    attrs = _attrs(media)
    return str(attrs.get("alt") or attrs.get("id") or "").strip()


def image(node: Node) -> str:
    name = _file_name(node)
    if _SAFE_NAME.fullmatch(name):
        return f"!{name}!"
    return _placeholder(name)


def attachment(node: Node) -> str:
    name = _file_name(node)
    if _SAFE_NAME.fullmatch(name):
        return f"[^{name}]"
    return _placeholder(name, "attachment")


def _placeholder(name: str, kind: str = "image") -> str:
    return "_" + escape_text(f"[{kind}: {name}]" if name else f"[{kind}]") + "_"


def _atom(node: Node) -> str:
    kind = str(node.get("type"))
    attrs = _attrs(node)
    if kind == "mention":
        return mention(node)
    if kind == "mediaInline":
        return attachment(node)
    if kind == "inlineCard":
        url = safe_link(str(attrs.get("url") or ""))
        return f"[{escape_text(url)}|{link_target(url)}]" if url else ""
    if kind == "emoji":
        return escape_text(str(attrs.get("text") or attrs.get("shortName") or ""))
    if kind in _ATOM_TEXT:
        return escape_text(str(attrs.get(_ATOM_TEXT[kind]) or ""))
    return inline(_content(node), FORCED_BREAK)


def inline(nodes: Iterable[Node], line_break: str = "\n") -> str:
    """Inline nodes as one run of markup; `hardBreak` becomes `line_break`."""
    parts: list[str] = []
    line_start = True
    for node in nodes:
        kind = node.get("type")
        if kind == "hardBreak":
            parts.append(line_break)
            line_start = True
            continue
        part = _text(node, line_start) if kind == "text" else _atom(node)
        parts.append(part)
        line_start = line_start and not part.strip()
    return "".join(parts).strip(" ")


# --- blocks ---------------------------------------------------------------------------------


def _code(node: Node) -> str:
    text = "".join(str(child.get("text") or "") for child in _content(node))
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    lowered = text.lower()
    for fence in ("{noformat}", "{code}"):
        if fence not in lowered:
            return f"{fence}\n{text}\n{fence}"
    lines = [f"{{{{{escape_text(line)}}}}}" if line.strip() else "" for line in text.split("\n")]
    return "\n".join(lines)


def _flat(node: Node) -> list[str]:
    """A block as pieces of one line (for table cells and list items)."""
    kind = node.get("type")
    if kind in {"paragraph", "heading"}:
        text = inline(_content(node), FORCED_BREAK)
        return [text] if text else []
    if kind == "codeBlock":
        text = "".join(str(child.get("text") or "") for child in _content(node))
        return [f"{{{{{escape_text(line)}}}}}" for line in text.split("\n") if line.strip()]
    if kind in {"bulletList", "orderedList"}:
        pieces: list[str] = []
        for number, item in enumerate(_content(node), start=1):
            marker = f"{number}. " if kind == "orderedList" else "\u2022 "
            inner = [p for child in _content(item) for p in _flat(child)]
            pieces.append(marker + FORCED_BREAK.join(inner))
        return pieces
    if kind == "table":
        return [
            " \\| ".join(FORCED_BREAK.join(_cell_pieces(cell)) for cell in _content(row))
            for row in _content(node)
        ]
    if kind == "mediaSingle":
        return [image(node)]
    if kind == "mediaGroup":
        return [" ".join(attachment({"content": [m]}) for m in _content(node))]
    if kind == "rule":
        return []
    if "text" in node or kind in _ATOM_TEXT or kind in {"mention", "inlineCard", "mediaInline"}:
        return [inline([node], FORCED_BREAK)]
    return [piece for child in _content(node) for piece in _flat(child)]


def _cell_pieces(cell: Node) -> list[str]:
    return [piece for block in _content(cell) for piece in _flat(block)]


def _list(node: Node, prefix: str) -> list[str]:
    marker = prefix + ("#" if node.get("type") == "orderedList" else "*")
    lines: list[str] = []
    for item in _content(node):
        first: list[str] = []
        nested: list[str] = []
        for child in _content(item):
            if child.get("type") in {"bulletList", "orderedList"}:
                nested += _list(child, marker)
            elif nested:  # after a nested list: a line of its own at this level
                nested += [f"{marker} {text}" for text in _flat(child) if text]
            else:
                first += _flat(child)
        lines.append(f"{marker} {FORCED_BREAK.join(first)}".rstrip())
        lines += nested
    return lines


def _table(node: Node) -> str:
    rows = []
    for row in _content(node):
        cells = []
        for cell in _content(row):
            edge = "||" if cell.get("type") == "tableHeader" else "|"
            text = FORCED_BREAK.join(_cell_pieces(cell)) or " "
            span = _attrs(cell).get("colspan")
            padding = int(span) - 1 if isinstance(span, int) and 1 < span <= 1000 else 0
            cells.append((edge, f"{edge}{text}" + f"{edge} " * padding))
        if cells:
            rows.append("".join(text for _, text in cells) + cells[-1][0])
    return "\n".join(rows)


def _block(node: Node, *, in_quote: bool = False) -> str:
    kind = node.get("type")
    if kind == "paragraph":
        return inline(_content(node))
    if kind == "heading":
        level = _attrs(node).get("level")
        level = level if isinstance(level, int) and 1 <= level <= 6 else 1
        text = inline(_content(node), " ")
        return f"h{level}. {text}" if text else ""
    if kind == "blockquote":
        inner = _blocks(_content(node), in_quote=True)
        if in_quote or not inner:
            return inner
        return f"{{quote}}\n{inner}\n{{quote}}"
    if kind == "codeBlock":
        return _code(node)
    if kind == "rule":
        return "----"
    if kind in {"bulletList", "orderedList"}:
        return "\n".join(_list(node, ""))
    if kind == "table":
        return _table(node)
    if kind == "mediaSingle":
        return image(node)
    if kind == "mediaGroup":
        return " ".join(_flat(node))
    if "text" in node:
        return escape_lines(str(node.get("text") or ""))
    if not _content(node) or kind in _ATOM_TEXT or kind in {"mention", "inlineCard"}:
        return inline([node])
    return _blocks(_content(node), in_quote=in_quote)


def _blocks(nodes: Iterable[Node], *, in_quote: bool = False) -> str:
    rendered = (_block(node, in_quote=in_quote) for node in nodes)
    return "\n\n".join(text for text in rendered if text.strip())


def adf_to_wiki(document: Node, *, max_chars: int | None = None) -> str:
    """Wiki markup for an ADF document (any valid one; the pipeline's in particular).

    `max_chars`: Jira's field limit (32,767 characters on Data Center unless an admin changed
    `jira.text.field.character.limit`). The pipeline fits the ADF document to it already, but
    escaping can make the markup longer than the document's text (a mail of `|` characters
    doubles), so the markup is held to the limit here too: whole top-level blocks are kept
    while they fit, then a note says the text was cut (the full text is attached by the
    pipeline when the ADF side cut it; this cut only hits such pathological mail). When not
    even the first block fits, its plain text is kept, escaped, as far as it fits.
    """
    rendered = [text for node in _content(document) if (text := _block(node)).strip()]
    whole = "\n\n".join(rendered)
    if max_chars is None or len(whole) <= max_chars:
        return whole
    room = max_chars - len(CUT_NOTE) - 2
    kept: list[str] = []
    used = 0
    for text in rendered:
        if used + len(text) + 2 > room:
            break
        kept.append(text)
        used += len(text) + 2
    if not kept:
        plain = adf_to_text({"type": "doc", "content": _content(document)[:1]})
        escaped = escape_lines(plain)
        while len(escaped) > room:  # escaping grows text: shrink in proportion until it fits
            plain = plain[: min(len(plain) - 1, len(plain) * room // len(escaped))]
            escaped = escape_lines(plain)
        kept = [escaped] if escaped.strip() else []
    return "\n\n".join([*kept, CUT_NOTE])
