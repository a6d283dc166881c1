"""HTML (an email body) to Atlassian Document Format; the decisions are listed in `adf.py`.

The HTML is sanitised first (`connector.mail.html.sanitize_html`), parsed with lxml, and walked
once. Each ADF container ("doc", table cell, blockquote, list item, heading) is a `Flow`: the
block nodes made so far plus the paragraph being filled. What a container may hold comes from
the ADF schema (developer.atlassian.com/cloud/jira/platform/apis/document/structure/): a
blockquote holds no heading, table or nested quote; a list item holds paragraphs, lists, code
blocks and media only; a table cell holds no table. Constructs a container cannot hold are
flattened into it (their text kept, the structure reduced to line and paragraph breaks).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

from lxml import etree

from connector.jira.adf_flow import Flow
from connector.jira.adf_nodes import NO_MARKS, AdfNode, Marks, clean_text, doc, paragraph, text_node
from connector.mail.html import (
    LINE_TAGS,
    children,
    image_label,
    is_hidden,
    is_layout_table,
    parse_fragment,
    preformatted_text,
    row_cells,
    safe_link,
    sanitize_html,
    table_rows,
)

_MARK_TAGS: dict[str, tuple[str, object]] = {
    **{tag: ("strong", True) for tag in ("b", "strong")},
    **{tag: ("em", True) for tag in ("i", "em")},
    **{tag: ("underline", True) for tag in ("u", "ins")},
    **{tag: ("strike", True) for tag in ("s", "strike", "del")},
    **{tag: ("code", True) for tag in ("code", "tt", "kbd", "samp")},
    "sub": ("subsup", "sub"),
    "sup": ("subsup", "sup"),
}
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_LIST_ITEM_FIRST = frozenset({"paragraph", "codeBlock", "mediaSingle"})


def _list_item(blocks: list[AdfNode]) -> AdfNode | None:
    if not blocks:
        return None
    if blocks[0]["type"] not in _LIST_ITEM_FIRST:  # listItem_node: a nested list comes second
        blocks.insert(0, paragraph())
    return {"type": "listItem", "content": blocks}


def _span(value: str | None, limit: int, zero: int) -> int:
    """A colspan/rowspan (digits only after sanitize_html) within 1..limit; HTML reads
    rowspan="0" as "to the end of the table" and colspan="0" as 1, hence `zero`."""
    if not value:
        return 1
    number = int(value) or zero
    return max(1, min(number, limit))


def _content_id_key(value: str) -> str:
    return value.strip().strip("<>").strip()


class _Converter:
    def __init__(
        self, inline_images: Mapping[str, str] | None, media_ids: Mapping[str, str] | None
    ) -> None:
        images = {_content_id_key(cid): name for cid, name in (inline_images or {}).items()}
        self._images = images
        self._images_folded = {cid.lower(): name for cid, name in images.items()}
        self._media_ids = media_ids or {}

    def convert(self, root: etree._Element) -> list[AdfNode]:
        flow = Flow("doc")
        self._children(root, flow, NO_MARKS)
        return flow.finish()

    def _children(self, element: etree._Element, flow: Flow, marks: Marks) -> None:
        if element.text:
            flow.add_text(element.text, marks)
        for child in children(element):
            if not is_hidden(child):
                self._element(child, flow, marks)
            if child.tail:
                flow.add_text(child.tail, marks)

    def _element(self, element: etree._Element, flow: Flow, marks: Marks) -> None:
        tag = element.tag
        if tag == "br":
            flow.line_break()
        elif tag == "img":
            self._image(element, flow, marks)
        elif tag == "a":
            href = safe_link(element.get("href"))
            self._children(element, flow, marks.with_("link", href) if href else marks)
        elif tag in _MARK_TAGS:
            name, value = _MARK_TAGS[tag]
            self._children(element, flow, marks.with_(name, value))
        elif tag in _HEADINGS:
            self._heading(element, flow, marks)
        elif tag == "blockquote":
            self._blockquote(element, flow, marks)
        elif tag == "pre":
            self._preformatted(element, flow, marks)
        elif tag in {"ul", "ol"}:
            self._list(element, flow, marks)
        elif tag == "table":
            self._table(element, flow, marks)
        elif tag == "hr":
            if "rule" in flow.caps:
                flow.add_block({"type": "rule"})
            else:
                flow.paragraph_break()
        elif tag in LINE_TAGS or element.get("class") == "MsoNormal":
            # Outlook writes every line as <p class=MsoNormal> with no margin, and an empty
            # line as <p class=MsoNormal>&nbsp;</p>: read as lines, as Outlook shows them.
            flow.soft_break()
            self._children(element, flow, marks)
            flow.soft_break()
        elif tag in {"p", "dl"}:
            flow.paragraph_break()
            self._children(element, flow, marks)
            flow.paragraph_break()
        else:
            self._children(element, flow, marks)

    def _heading(self, element: etree._Element, flow: Flow, marks: Marks) -> None:
        if "heading" not in flow.caps:  # e.g. inside a list item: a bold paragraph instead
            flow.paragraph_break()
            self._children(element, flow, marks.with_("strong", True))
            flow.paragraph_break()
            return
        inner = Flow("heading")
        self._children(element, inner, marks)
        content = inner.heading_content()
        level = int(str(element.tag)[1])
        if content:
            flow.add_block({"type": "heading", "attrs": {"level": level}, "content": content})
        else:
            flow.paragraph_break()

    def _blockquote(self, element: etree._Element, flow: Flow, marks: Marks) -> None:
        if "blockquote" not in flow.caps:  # ADF quotes do not nest: merge into the outer one
            flow.paragraph_break()
            self._children(element, flow, marks)
            flow.paragraph_break()
            return
        inner = Flow("quote")
        self._children(element, inner, marks)
        blocks = inner.finish()
        if blocks:
            flow.add_block({"type": "blockquote", "content": blocks})
        else:
            flow.paragraph_break()

    def _preformatted(self, element: etree._Element, flow: Flow, marks: Marks) -> None:
        text = clean_text(preformatted_text(element))
        if "code" not in flow.caps:
            flow.soft_break()
            flow.add_text(text, marks)
            flow.soft_break()
        elif text.strip():
            # codeBlock holds unmarked text only (codeBlock_node); newlines are kept as is.
            flow.add_block({"type": "codeBlock", "content": [text_node(text)]})
        else:
            flow.paragraph_break()

    def _list(self, element: etree._Element, flow: Flow, marks: Marks) -> None:
        if "list" not in flow.caps:  # inside a heading: one line per item
            flow.soft_break()
            for item in children(element):
                if is_hidden(item):
                    continue
                flow.soft_break()
                self._children(item, flow, marks)
                flow.soft_break()
            return
        node = self._list_node(element, marks)
        if node is not None:
            flow.add_block(node)
        else:
            flow.paragraph_break()

    def _list_node(self, element: etree._Element, marks: Marks) -> AdfNode | None:
        items: list[AdfNode] = []
        stray: Flow | None = None  # content that sits in the list outside any <li>
        if element.text and element.text.strip():
            stray = Flow("item")
            stray.add_text(element.text, marks)
        for child in children(element):
            if is_hidden(child):
                pass
            elif child.tag == "li":
                self._close_stray(stray, items)
                stray = None
                inner = Flow("item")
                self._children(child, inner, marks)
                self._append_item(items, inner)
            elif child.tag in {"ul", "ol"} and stray is None and items:
                # <ul><li>a</li><ul>...</ul></ul>, as some mail editors write a nested list.
                nested = self._list_node(child, marks)
                if nested is not None:
                    items[-1]["content"].append(nested)
            else:
                stray = stray or Flow("item")
                self._element(child, stray, marks)
            if child.tail and child.tail.strip():
                stray = stray or Flow("item")
                stray.add_text(child.tail, marks)
        self._close_stray(stray, items)
        if not items:
            return None
        if element.tag == "ul":
            return {"type": "bulletList", "content": items}
        node: AdfNode = {"type": "orderedList", "content": items}
        start = int(element.get("start") or 1)
        if start != 1:
            node["attrs"] = {"order": start}
        return node

    def _close_stray(self, stray: Flow | None, items: list[AdfNode]) -> None:
        if stray is not None:
            self._append_item(items, stray)

    @staticmethod
    def _append_item(items: list[AdfNode], flow: Flow) -> None:
        item = _list_item(flow.finish())
        if item is not None:
            items.append(item)

    def _table(self, element: etree._Element, flow: Flow, marks: Marks) -> None:
        layout = is_layout_table(element)
        caption = next((c for c in children(element) if c.tag == "caption"), None)
        if caption is not None and not is_hidden(caption):
            flow.paragraph_break()
            self._children(caption, flow, marks)
            flow.paragraph_break()
        rows = [cells for row in table_rows(element) if (cells := row_cells(row))]
        if "table" in flow.caps and not layout and rows:
            flow.add_block(self._table_node(rows, marks))
            return
        # Not representable here: a layout table reads cell by cell, a data table row by row.
        for cells in rows:
            flow.soft_break()
            for index, cell in enumerate(cells):
                if layout:
                    flow.soft_break()
                elif index:
                    flow.add_text(" | ", NO_MARKS)
                self._children(cell, flow, marks)
                if layout:
                    flow.soft_break()
            flow.soft_break()

    def _table_node(self, rows: list[list[etree._Element]], marks: Marks) -> AdfNode:
        grid: list[list[AdfNode]] = []
        widths: list[int] = []
        # No cell spans more columns than the widest row has cells: colspan="99" in sloppy
        # mail would otherwise pad every row with dozens of empty cells.
        max_colspan = max(len(cells) for cells in rows)
        covered: dict[int, int] = {}  # column -> rows it is still covered by a rowspan above
        for index, row in enumerate(rows):
            nodes: list[AdfNode] = []
            column = 0
            below = {col: left - 1 for col, left in covered.items() if left > 1}
            for cell in row:
                while column in covered:
                    column += 1
                colspan = _span(cell.get("colspan"), max_colspan, 1)
                rowspan = _span(cell.get("rowspan"), len(rows) - index, len(rows) - index)
                inner = Flow("cell")
                self._children(cell, inner, marks)
                node: AdfNode = {
                    "type": "tableHeader" if cell.tag == "th" else "tableCell",
                    "content": inner.finish() or [paragraph()],
                }
                if colspan > 1 or rowspan > 1:
                    spans = (("colspan", colspan), ("rowspan", rowspan))
                    node["attrs"] = {name: value for name, value in spans if value > 1}
                    below.update(dict.fromkeys(range(column, column + colspan), rowspan - 1))
                nodes.append(node)
                column += colspan
            below = {col: left for col, left in below.items() if left > 0}
            grid.append(nodes)
            widths.append(max([column, *(col + 1 for col in covered)]))
            covered = below
        # Rows of equal width: Jira's table editor expects a rectangular grid.
        width = max(widths)
        content = [
            {"type": "tableRow", "content": cells + [_empty_cell()] * (width - row_width)}
            for cells, row_width in zip(grid, widths, strict=True)
        ]
        return {"type": "table", "content": content}

    def _image(self, element: etree._Element, flow: Flow, marks: Marks) -> None:
        src = element.get("src") or ""
        alt = element.get("alt")
        if src[:4].lower() != "cid:":
            # Remote and data: images are not fetched or embedded (tracking, privacy); a link
            # to a remote image lets the reader open it deliberately.
            flow.add_placeholder(image_label(alt), marks.link or safe_link(src))
            return
        content_id = _content_id_key(unquote(src[4:]))
        filename = self._images.get(content_id) or self._images_folded.get(content_id.lower())
        media_id = self._media_ids.get(filename) if filename else None
        if media_id and "media" in flow.caps:
            flow.add_block(_media_single(media_id, filename or ""))
        else:
            flow.add_placeholder(image_label(alt, filename), marks.link)


def _empty_cell() -> AdfNode:
    return {"type": "tableCell", "content": [paragraph()]}


def _media_single(media_id: str, filename: str) -> AdfNode:
    media: AdfNode = {"type": "file", "id": media_id, "collection": ""}
    if filename:
        media["alt"] = filename
    return {
        "type": "mediaSingle",
        "attrs": {"layout": "center"},
        "content": [{"type": "media", "attrs": media}],
    }


def html_to_adf(
    html: str,
    *,
    inline_images: Mapping[str, str] | None = None,
    media_ids: Mapping[str, str] | None = None,
) -> AdfNode:
    """An ADF document for an HTML email body (sanitised here first).

    `inline_images` maps Content-ID (with or without angle brackets) to the attachment's
    filename; `media_ids` maps that filename to a Jira media id once it has been uploaded.
    """
    converter = _Converter(inline_images, media_ids)
    return doc(converter.convert(parse_fragment(sanitize_html(html))))
