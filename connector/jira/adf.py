"""Atlassian Document Format (ADF) for issue descriptions and comments made from email.

ADF reference: developer.atlassian.com/cloud/jira/platform/apis/document/structure/ (nodes)
and .../document/marks/ (marks); every document built here validates against the draft-04
schema in `shared/specs/adf.schema.json` (tests check it). Pure: no IO (DESIGN.md, "Seams").

API (this module is the one to import):
- `text_to_adf(text)`: plain-text body. Blank lines separate paragraphs, single newlines are
  `hardBreak`s, http(s)/mailto URLs and bare addresses become `link` marks, "- " / "* " lines
  bullet lists and "1. " / "1) " lines ordered lists (nested by indentation), ">" lines a
  blockquote (ADF quotes do not nest, so deeper levels are merged into one).
- `html_to_adf(html, inline_images=..., media_ids=...)`: HTML body, sanitised first
  (`connector.mail.html.sanitize_html`); see `adf_html.py`.
- `fit_to_limit(doc, max_chars=..., filename=...)`: Jira's field limit, see below.
- `adf_to_text(doc)`, `adf_to_html(doc)`: read a document back (`adf_render.py`).

Decisions:
- Inline images (`<img src="cid:...">`). An ADF `media` node of type "file" must name a Media
  Services file `id` and `collection` (`media_node` in the schema), which exist only after the
  attachment is uploaded; ADF has no wiki-markup `!file.png!`; an "external" media with a cid:
  URL would show a broken image. So without a media id the image becomes an italic
  "[image: <attachment filename>]" in place, naming the attachment the reader will find on
  the issue (the caller attaches every inline part under the filename it passes in
  `inline_images`, Content-ID -> filename). When a later stage has uploaded the file and
  passes `media_ids` (filename -> media file id), the image becomes a `mediaSingle` holding
  `media` {type "file", id, collection ""} (Jira's own attachment media use an empty
  collection), alt = filename; inside a heading, where no block can go, the text form stays.
- Remote (http/https) and `data:` images are never embedded as "external" media: every agent
  opening the issue would fetch from the sender's server (read tracking, privacy). They read
  "[image: alt]", linked to the remote address so a reader can open it deliberately.
  1x1 tracking pixels are already removed by `sanitize_html`.
- Marks follow the schema: `code` combines with `link` only (`code_inline_node`); links are
  http, https or mailto only. Text never contains C0 control characters, and no text node is
  empty (`minLength: 1`). Empty paragraphs appear only where the schema needs a block (an empty
  table cell, a list item whose first child would otherwise be a list).
- Tables: a data table becomes an ADF table (th -> tableHeader, colspan/rowspan kept, rows
  padded to a rectangular grid, each cell holding paragraphs). A layout table (see
  `connector.mail.html.is_layout_table`: role=presentation, a table inside, or one column) is
  read cell by cell instead: ADF tables cannot nest, and a newsletter's grid is not data.
- Block breaks read as a browser shows them: `<p>` makes a paragraph; `<div>` (and Outlook's
  `<p class=MsoNormal>`) is a line, joined to its neighbours by `hardBreak`s, and an empty
  line (`<div><br></div>`, `<p class=MsoNormal>&nbsp;</p>`) starts a new paragraph.
- Where ADF cannot nest what HTML nests (a heading or quote in a list item, a table in a cell
  or quote, a quote in a quote), the inner construct is flattened into its container: its text
  stays, its structure becomes line and paragraph breaks (a heading there becomes bold).

Field limit: Jira Cloud refuses a description or comment over 32,767 characters. Atlassian
documents the number (support.atlassian.com/jira-cloud-administration/docs/
jira-cloud-application-limits/, and JRACLOUD-68949) but not what is counted in an ADF field.
The one account found of how it counts (bitovi/cascade-mcp, specs/10-large-jira-descriptions.md:
"applies to the entire JSON representation of the ADF document, not just the visible text",
measured as `JSON.stringify(doc).length`) is a third party's, not Atlassian's: unconfirmed.
`serialized_length` follows it: the compact JSON of the document with non-ASCII characters kept
as they are, in UTF-16 code units (what Java's `String.length()` and JavaScript's `.length`
count). The fake Jira (tests/fakes/site.py) counts the same way. A refusal all the same does
not lose the mail: the pipeline retries with a short document and attaches the full text
(`connector.pipeline.deliver`). `fit_to_limit` keeps whole top-level blocks while they fit.
Only when those fill less than half the field is the first block that does not
fit cut inside, if it is a paragraph, heading or code block (at an inline node, a word or a
line boundary): a mail that is one huge paragraph or log still shows its beginning. A note
paragraph naming the attached file ends the cut document, and `FittedDocument.full_text`
carries the full text for the caller to attach.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from connector.jira.adf_html import html_to_adf
from connector.jira.adf_nodes import AdfNode, clean_text, doc, hard_break, paragraph, text_node
from connector.jira.adf_render import adf_to_html, adf_to_text

__all__ = [
    "JIRA_TEXT_LIMIT",
    "AdfNode",
    "FittedDocument",
    "adf_to_html",
    "adf_to_text",
    "fit_to_limit",
    "html_to_adf",
    "serialized_length",
    "text_to_adf",
]

JIRA_TEXT_LIMIT = 32_767
# A comment, and a new issue whose reporter is not the sender, start with lines naming the
# sender and Cc (`connector.mail_fields.with_author_line`, which keeps them within this); the
# text under them is fitted to the rest, so the whole stays within Jira's limit.
AUTHOR_LINE_ROOM = 1_024
TRUNCATION_NOTE = "The message was too long for Jira; the full text is attached as {filename}."

_BULLET = re.compile(r"(\s*)[-*\u2022]\s+(\S.*)")
_ORDERED = re.compile(r"(\s*)(\d{1,3})[.)]\s+(\S.*)")
_QUOTE = re.compile(r"\s{0,3}>")
_QUOTE_MARKERS = re.compile(r"\s{0,3}(?:>[ \t]?)+")
# An address starts where a run of address characters starts: without the lookbehind, a word
# with no "@" would be rescanned from each of its letters, quadratic in the word's length
# (a 100,000-letter word took a minute). Where the run starts is the leftmost match anyway.
_LINK = re.compile(
    r"\b(?:https?://|mailto:)[^\s<>\"]+|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE
)
_TRAILING_PUNCTUATION = ".,;:!?'\"*_"
_CLOSERS = {")": "(", "]": "["}


# --- plain text --------------------------------------------------------------------------


def _link_target(candidate: str) -> tuple[str, str] | None:
    """(text, href) for a URL or address found in text, trailing punctuation left outside."""
    # Counted once and kept up to date: counting (or slicing) per character taken off made a
    # URL ending in thousands of ")" or "." quadratic. Openers are never taken off.
    closers = {closer: candidate.count(closer) for closer in _CLOSERS}
    openers = {closer: candidate.count(opener) for closer, opener in _CLOSERS.items()}
    end = len(candidate)
    while end:
        last = candidate[end - 1]
        unbalanced = last in _CLOSERS and closers[last] > openers[last]
        if last not in _TRAILING_PUNCTUATION and not unbalanced:
            break
        if last in closers:
            closers[last] -= 1
        end -= 1
    candidate = candidate[:end]
    if "://" not in candidate and not candidate.lower().startswith("mailto:"):
        return (candidate, f"mailto:{candidate}") if "@" in candidate else None
    try:
        parts = urlsplit(candidate)
    except ValueError:  # "http://[x": an unclosed IPv6 literal is text, not a link
        return None
    if parts.scheme.lower() == "mailto":
        return (candidate, candidate) if len(candidate) > len("mailto:") else None
    return (candidate, candidate) if parts.netloc else None


def _inline(line: str) -> list[AdfNode]:
    if "@" not in line and ":" not in line:  # every link has one: most lines have neither
        return [text_node(line)] if line else []
    nodes: list[AdfNode] = []
    position = 0
    for match in _LINK.finditer(line):
        if match.start() < position:
            continue
        target = _link_target(match.group(0))
        if target is None:
            continue
        shown, href = target
        if match.start() > position:
            nodes.append(text_node(line[position : match.start()]))
        nodes.append(text_node(shown, [{"type": "link", "attrs": {"href": href}}]))
        position = match.start() + len(shown)
    if position < len(line):
        nodes.append(text_node(line[position:]))
    return nodes


def _inline_lines(lines: list[str]) -> list[AdfNode]:
    nodes: list[AdfNode] = []
    for line in lines:
        if nodes:
            nodes.append(hard_break())
        nodes += _inline(line)
    return nodes


def _list_marker(line: str) -> tuple[int, str, int, str] | None:
    """(indent, list type, number, item text) when the line starts a list item."""
    if bullet := _BULLET.fullmatch(line):
        return len(bullet.group(1).expandtabs(4)), "bulletList", 1, bullet.group(2)
    if ordered := _ORDERED.fullmatch(line):
        return len(ordered.group(1).expandtabs(4)), "orderedList", int(ordered.group(2)), ordered[3]
    return None


def _new_list(kind: str, number: int) -> AdfNode:
    node: AdfNode = {"type": kind, "content": []}
    if kind == "orderedList" and number != 1:
        node["attrs"] = {"order": number}
    return node


def _next_text_line(lines: list[str], index: int) -> int:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _parse_list(lines: list[str], index: int) -> tuple[AdfNode, int]:
    stack: list[tuple[int, AdfNode]] = []  # (indent, list node), outermost first
    while index < len(lines):
        line = lines[index]
        marker = _list_marker(line)
        if not line.strip():
            following = _next_text_line(lines, index)
            if following == len(lines) or _list_marker(lines[following]) is None:
                break
            index = following  # blank lines between items: the list goes on
            continue
        if marker is None:
            if not line[:1].isspace():
                break
            item = stack[-1][1]["content"][-1]  # an indented line continues the last item
            if item["content"][-1]["type"] == "paragraph":
                item["content"][-1].setdefault("content", []).append(hard_break())
                item["content"][-1]["content"] += _inline(line.strip())
            else:
                item["content"].append(paragraph(_inline(line.strip())))
        else:
            indent, kind, number, text = marker
            item = {"type": "listItem", "content": [paragraph(_inline(text))]}
            if stack and indent > stack[-1][0]:
                nested = _new_list(kind, number)
                stack[-1][1]["content"][-1]["content"].append(nested)
                stack.append((indent, nested))
            else:
                while len(stack) > 1 and indent <= stack[-2][0]:
                    stack.pop()
                if not stack:
                    stack.append((indent, _new_list(kind, number)))
                elif stack[-1][1]["type"] != kind:
                    if len(stack) == 1:
                        break  # another kind of list at the top: the caller starts it
                    sibling = _new_list(kind, number)
                    stack[-2][1]["content"][-1]["content"].append(sibling)
                    stack[-1] = (indent, sibling)
            stack[-1][1]["content"].append(item)
        index += 1
    return stack[0][1], index


def _text_blocks(lines: list[str], *, quotes: bool) -> list[AdfNode]:
    blocks: list[AdfNode] = []
    index = 0

    def plain(line: str) -> bool:
        quoted = quotes and _QUOTE.match(line) is not None
        return bool(line.strip()) and _list_marker(line) is None and not quoted

    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
        elif quotes and _QUOTE.match(line):
            end = index
            while end < len(lines) and _QUOTE.match(lines[end]):
                end += 1
            inner = [_QUOTE_MARKERS.sub("", quoted, count=1) for quoted in lines[index:end]]
            if content := _text_blocks(inner, quotes=False):
                blocks.append({"type": "blockquote", "content": content})
            index = end
        elif _list_marker(line) is not None:
            node, index = _parse_list(lines, index)
            blocks.append(node)
        else:
            end = index
            while end < len(lines) and plain(lines[end]):
                end += 1
            blocks.append(paragraph(_inline_lines(lines[index:end])))
            index = end
    return blocks


def text_to_adf(text: str) -> AdfNode:
    """An ADF document for a plain-text body (`{"type": "doc", "version": 1, ...}`)."""
    text = clean_text(text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.rstrip() for line in text.split("\n")]
    return doc(_text_blocks(lines, quotes=True))


# --- field limit -------------------------------------------------------------------------


@dataclass(frozen=True)
class FittedDocument:
    """A document that fits Jira's field; `full_text` is set (to attach) when it was cut."""

    document: AdfNode
    truncated: bool
    full_text: str | None = None


# Made once: `json.dumps` with arguments builds an encoder per call, and a document that
# does not fit is measured block by block and node by node (dozens of calls a message).
# A document is a tree, so the check for cycles is left out.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def serialized_length(node: AdfNode) -> int:
    """What Jira counts against its 32,767-character limit (see the module docstring): the
    compact JSON of `node`, non-ASCII kept as characters, in UTF-16 code units (a character
    outside the BMP counts two)."""
    serialized = _COMPACT.encode(node)
    if serialized.isascii():
        return len(serialized)
    return len(serialized.encode("utf-16-le", "surrogatepass")) // 2


def _largest_fitting(count: int, fits: Callable[[int], bool]) -> int:
    """The largest n in [0, count] with fits(n), for a monotone predicate (binary search)."""
    low, high = 0, count
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _cut_text(node: AdfNode, room: int) -> AdfNode | None:
    text: str = node["text"]
    keep = _largest_fitting(
        len(text), lambda n: serialized_length({**node, "text": text[:n]}) <= room
    )
    word_end = text.rfind(" ", 0, keep + 1)
    if keep < len(text) and word_end > keep // 2:
        keep = word_end
    shortened = text[:keep].rstrip()
    return {**node, "text": shortened} if shortened else None


def _cut_block(block: AdfNode, room: int) -> AdfNode | None:
    """The beginning of a paragraph, heading or code block that fits in `room`, if any."""
    if block["type"] == "codeBlock":
        lines = "".join(node["text"] for node in block.get("content", [])).split("\n")

        def code(n: int) -> AdfNode:
            return {**block, "content": [text_node("\n".join(lines[:n]))]}

        kept = _largest_fitting(len(lines), lambda n: n == 0 or serialized_length(code(n)) <= room)
        return code(kept) if kept and "\n".join(lines[:kept]) else None
    if block["type"] not in {"paragraph", "heading"}:
        return None
    used = serialized_length({**block, "content": []})
    content: list[AdfNode] = []
    for node in block.get("content", []):
        comma = 1 if content else 0
        size = serialized_length(node) + comma
        if used + size <= room:
            content.append(node)
            used += size
            continue
        if node["type"] == "text" and (cut := _cut_text(node, room - used - comma)):
            content.append(cut)
        break
    while content and content[-1]["type"] == "hardBreak":
        content.pop()
    return {**block, "content": content} if content else None


def fit_to_limit(
    doc_node: AdfNode, *, max_chars: int = JIRA_TEXT_LIMIT, filename: str = "full-message.txt"
) -> FittedDocument:
    """The document as is when it fits, else cut at a block boundary with a note naming
    `filename`, the attachment the caller makes from `full_text` (see the module docstring)."""
    if serialized_length(doc_node) <= max_chars:
        return FittedDocument(doc_node, truncated=False)
    note = paragraph([text_node(TRUNCATION_NOTE.format(filename=filename), [{"type": "em"}])])
    budget = max_chars - serialized_length(doc([note])) - 1  # 1: the comma before the note
    if budget < 0:
        raise ValueError(f"max_chars={max_chars} cannot even hold the truncation note")
    kept: list[AdfNode] = []
    used = 0
    for block in doc_node.get("content", []):
        comma = 1 if kept else 0
        size = serialized_length(block) + comma
        if used + size <= budget:
            kept.append(block)
            used += size
            continue
        # Cut inside this block only when whole blocks leave most of the field empty.
        if used < budget // 2 and (partial := _cut_block(block, budget - used - comma)):
            kept.append(partial)
        break
    return FittedDocument(doc([*kept, note]), truncated=True, full_text=adf_to_text(doc_node))
