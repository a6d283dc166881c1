"""Reading an ADF document back: as plain text (the attached full text, outbound mail, tests)
and as simple escaped HTML (outbound notification mail).

Both walk any valid document (developer.atlassian.com/cloud/jira/platform/apis/document/
structure/), not only the ones this package builds: unknown nodes are read through their
`content` or `text`, and inline nodes such as mentions or emoji by their display text.
Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from connector.mail.html import safe_link

AdfNode = Mapping[str, Any]

_INLINE_TEXT_ATTRS = {
    "mention": "text",
    "emoji": "text",
    "status": "text",
    "date": "timestamp",
    "inlineCard": "url",
    "placeholder": "text",
}


def _content(node: AdfNode) -> list[AdfNode]:
    content = node.get("content")
    return list(content) if isinstance(content, list) else []


def _marks(node: AdfNode) -> list[AdfNode]:
    marks = node.get("marks")
    return list(marks) if isinstance(marks, list) else []


def _link(node: AdfNode) -> str | None:
    for mark in _marks(node):
        if mark.get("type") == "link":
            href = mark.get("attrs", {}).get("href")
            return href if isinstance(href, str) else None
    return None


def _media_label(node: AdfNode) -> str:
    media = next((child for child in _content(node) if child.get("type") == "media"), node)
    alt = media.get("attrs", {}).get("alt")
    return f"[image: {alt}]" if alt else "[image]"


def _inline_atom_text(node: AdfNode) -> str:
    attrs = node.get("attrs", {})
    kind = node.get("type")
    if kind == "emoji":
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if kind in _INLINE_TEXT_ATTRS:
        return str(attrs.get(_INLINE_TEXT_ATTRS[kind]) or "")
    if kind == "mediaInline":
        return "[attachment]"
    return ""


# --- plain text ------------------------------------------------------------------------


def _inline_text(nodes: Iterable[AdfNode]) -> str:
    parts: list[str] = []
    pending_link: str | None = None  # a link is named once, after its last text node
    pending_text = ""
    for node in nodes:
        kind = node.get("type")
        link = _link(node) if kind == "text" else None
        if pending_link and link != pending_link:
            parts.append(_link_suffix(pending_text, pending_link))
        if link != pending_link:
            pending_text = ""
        pending_link = link
        if kind == "text":
            parts.append(str(node.get("text", "")))
            pending_text += str(node.get("text", ""))
        elif kind == "hardBreak":
            parts.append("\n")
        else:
            parts.append(_inline_atom_text(node))
    if pending_link:
        parts.append(_link_suffix(pending_text, pending_link))
    return "".join(parts)


def _link_suffix(shown: str, href: str) -> str:
    return "" if shown.strip() in {href, href.removeprefix("mailto:")} else f" ({href})"


def _block_lines(node: AdfNode) -> list[str]:
    kind = node.get("type")
    if kind in {"paragraph", "heading"}:
        return _inline_text(_content(node)).split("\n")
    if kind == "codeBlock":
        return "".join(str(child.get("text", "")) for child in _content(node)).split("\n")
    if kind == "rule":
        return ["---"]
    if kind in {"mediaSingle", "mediaGroup"}:
        return [_media_label(node)]
    if kind in {"bulletList", "orderedList"}:
        lines: list[str] = []
        number = int(node.get("attrs", {}).get("order", 1))
        for item in _content(node):
            marker = f"{number}. " if kind == "orderedList" else "- "
            number += 1
            item_lines = [line for child in _content(item) for line in _block_lines(child)]
            item_lines = item_lines or [""]
            indent = " " * len(marker)
            lines.append((marker + item_lines[0]).rstrip())
            lines += [indent + line if line else line for line in item_lines[1:]]
        return lines
    if kind == "blockquote":
        return [f"> {line}" if line else ">" for line in _blocks_text(_content(node)).split("\n")]
    if kind == "table":
        rows = []
        for row in _content(node):
            cells = [" ".join(_blocks_text(_content(cell)).split()) for cell in _content(row)]
            rows.append(" | ".join(cells).strip())
        return rows
    if "text" in node:
        return [str(node["text"])]
    if kind in _INLINE_TEXT_ATTRS or kind == "hardBreak":
        return _inline_text([node]).split("\n")
    return _blocks_text(_content(node)).split("\n")


def _blocks_text(blocks: Iterable[AdfNode]) -> str:
    return "\n\n".join("\n".join(_block_lines(block)) for block in blocks)


def adf_to_text(doc: AdfNode) -> str:
    """Plain text of a document: paragraphs separated by a blank line, "- " and "1. " lists,
    "> " quotes, table rows as "a | b", links as "text (url)" unless the text is the url."""
    return _blocks_text(_content(doc))


# --- HTML ------------------------------------------------------------------------------

_MARK_TAGS = {"em": "em", "strong": "strong", "strike": "s", "underline": "u", "code": "code"}
_BLOCK_TAGS = {
    "paragraph": "p",
    "blockquote": "blockquote",
    "bulletList": "ul",
    "orderedList": "ol",
    "listItem": "li",
    "tableRow": "tr",
    "tableHeader": "th",
    "tableCell": "td",
}


def _text_html(node: AdfNode) -> str:
    html = escape(str(node.get("text", "")))
    link = None
    for mark in _marks(node):
        kind = mark.get("type")
        if kind in _MARK_TAGS:
            tag = _MARK_TAGS[kind]
            html = f"<{tag}>{html}</{tag}>"
        elif kind == "subsup":
            tag = "sub" if mark.get("attrs", {}).get("type") == "sub" else "sup"
            html = f"<{tag}>{html}</{tag}>"
        elif kind == "link":
            link = safe_link(mark.get("attrs", {}).get("href"))
    return f'<a href="{escape(link)}">{html}</a>' if link else html


def _node_html(node: AdfNode) -> str:
    kind = node.get("type")
    inner = "".join(_node_html(child) for child in _content(node))
    if kind == "text":
        return _text_html(node)
    if kind == "hardBreak":
        return "<br>"
    if kind == "heading":
        level = min(max(int(node.get("attrs", {}).get("level", 1)), 1), 6)
        return f"<h{level}>{inner}</h{level}>"
    if kind == "codeBlock":
        code = escape("".join(str(child.get("text", "")) for child in _content(node)))
        return f"<pre><code>{code}</code></pre>"
    if kind == "rule":
        return "<hr>"
    if kind in {"mediaSingle", "mediaGroup"}:
        return f"<p>{escape(_media_label(node))}</p>"
    if kind in _BLOCK_TAGS:
        tag = _BLOCK_TAGS[kind]
        return f"<{tag}{_attributes_html(node)}>{inner}</{tag}>"
    if kind == "table":
        return f"<table>{inner}</table>"
    atom = _inline_atom_text(node)
    return escape(atom) if atom else inner


def _attributes_html(node: AdfNode) -> str:
    attrs = node.get("attrs", {})
    names = ("order", "colspan", "rowspan")
    html_names = {"order": "start", "colspan": "colspan", "rowspan": "rowspan"}
    return "".join(
        f' {html_names[name]}="{int(attrs[name])}"'
        for name in names
        if isinstance(attrs.get(name), int | float) and int(attrs[name]) != 1
    )


def adf_to_html(doc: AdfNode) -> str:
    """Simple HTML for a document, every text escaped and only http/https/mailto links."""
    return "".join(_node_html(block) for block in _content(doc))
