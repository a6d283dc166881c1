"""Readable plain text from email HTML, for mail that has only an HTML part.

Block elements end lines, lists get "- " or "1. ", quotes "> ", data tables a row per line.
"""

from __future__ import annotations

from lxml import etree

from connector.mail.html import (
    COLLAPSIBLE_WHITESPACE,
    LINE_TAGS,
    PARAGRAPH_TAGS,
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


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body (for mail that has no text/plain part)."""
    writer = _TextWriter()
    writer.children(parse_fragment(sanitize_html(html)))
    return writer.result()


class _TextWriter:
    """Writes text as a browser lays it out: white space collapses, and line breaks are
    counted and written only when more text follows (two or more make one blank line)."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._pending = 0  # line breaks waiting for the next text
        self._blank_depth = 0  # quote/list depth the pending blank line belongs to
        self._line_content = False
        self._nbsp_line = False  # the line so far holds only non-breaking spaces
        self._last_space = False
        self._prefixes: list[str] = []  # "> " for quotes, indentation for list items
        self._markers: dict[int, str] = {}  # list markers waiting for their item's first line
        self._single_line = 0  # inside a data table cell: breaks become spaces

    def result(self) -> str:
        lines = "".join(self._parts).split("\n")
        return "\n".join(line.rstrip() for line in lines).strip("\n")

    def text(self, text: str | None) -> None:
        if not text:
            return
        text = COLLAPSIBLE_WHITESPACE.sub(" ", text)
        if text.startswith(" ") and (self._last_space or not self._line_content):
            text = text[1:]
        if not text:
            return
        if not self._line_content and not text.strip(" \xa0"):
            self._nbsp_line = True
            return
        self._start_line()
        self._parts.append(text.replace("\xa0", " "))
        self._line_content = True
        self._last_space = text.endswith(" ")

    def line_break(self) -> None:
        if self._single_line:
            self.text(" ")
            return
        self._pending += 1
        self._line_content = self._nbsp_line = self._last_space = False

    def soft_break(self) -> None:
        if self._line_content or self._nbsp_line:
            self.line_break()

    def paragraph_break(self) -> None:
        if self._single_line:
            self.text(" ")
        elif self._parts:
            self.soft_break()
            if self._pending < 2:
                self._blank_depth = len(self._prefixes)
            self._pending = max(self._pending, 2)

    def _start_line(self) -> None:
        if self._line_content:
            return
        if self._parts:
            self._parts.append("\n")
            if self._pending >= 2:
                self._parts.append("".join(self._prefixes[: self._blank_depth]).rstrip() + "\n")
        prefixes = [self._markers.pop(i, p) for i, p in enumerate(self._prefixes)]
        self._parts.append("".join(prefixes))
        self._pending = 0
        self._blank_depth = len(self._prefixes)

    def children(self, element: etree._Element) -> None:
        self.text(element.text)
        for child in children(element):
            if not is_hidden(child):
                self.element(child)
            self.text(child.tail)

    def _block(self, element: etree._Element, prefix: str, marker: str = "") -> None:
        self._prefixes.append(prefix)
        if marker:
            self._markers[len(self._prefixes) - 1] = marker
        self.children(element)
        self.soft_break()
        self._markers.pop(len(self._prefixes) - 1, None)
        self._prefixes.pop()

    def element(self, element: etree._Element) -> None:
        tag = element.tag
        if tag == "br":
            self.line_break()
        elif tag == "img":
            self.text(" " + image_label(element.get("alt")) + " ")
        elif tag == "a":
            self.children(element)
            href = safe_link(element.get("href"))
            shown = COLLAPSIBLE_WHITESPACE.sub(
                " ", "".join(str(t) for t in element.itertext())
            ).strip()
            visible = bool(shown) or element.find(".//img") is not None
            if href and shown not in {href, href.removeprefix("mailto:")}:
                self.text(f" ({href})" if visible else href)
        elif tag == "pre":
            self.paragraph_break()
            self._preformatted(preformatted_text(element))
            self.paragraph_break()
        elif tag == "hr":
            self.paragraph_break()
            self.text("---")
            self.paragraph_break()
        elif tag == "blockquote" and not self._single_line:
            self.paragraph_break()
            self._block(element, "> ")
            self.paragraph_break()
        elif tag in {"ul", "ol"}:
            self._list(element)
        elif tag == "table" and not is_layout_table(element):
            self.paragraph_break()
            for row in table_rows(element):
                self._table_row(row)
            self.paragraph_break()
        elif tag in LINE_TAGS or element.get("class") == "MsoNormal":
            self.soft_break()
            self.children(element)
            self.soft_break()
        elif tag in PARAGRAPH_TAGS:
            self.paragraph_break()
            self.children(element)
            self.paragraph_break()
        else:
            self.children(element)

    def _preformatted(self, text: str) -> None:
        if self._single_line:
            self.text(text)
            return
        for index, line in enumerate(text.split("\n")):
            if index:
                self.line_break()
            self._start_line()
            self._parts.append(line)
            self._line_content = True

    def _list(self, element: etree._Element) -> None:
        # A list inside a list item continues the item; any other list is a paragraph.
        nested = bool(self._prefixes) and self._prefixes[-1].isspace()
        end_block = self.soft_break if nested else self.paragraph_break
        end_block()
        number = int(element.get("start") or 1)
        for item in children(element):
            if is_hidden(item):
                continue
            marker = f"{number}. " if element.tag == "ol" else "- "
            self.soft_break()
            if item.tag == "li":
                self._block(item, " " * len(marker), marker)
                number += 1
            else:  # a list written straight into a list: indent it under the last item
                self._prefixes.append("  ")
                self.element(item)
                self.soft_break()
                self._prefixes.pop()
        end_block()

    def _table_row(self, row: etree._Element) -> None:
        self.soft_break()
        self._single_line += 1
        for index, cell in enumerate(row_cells(row)):
            if index:
                self.text(" | ")
            self.children(cell)
        self._single_line -= 1
        self.soft_break()
