"""The paragraph-filling state machine behind `adf_html`: one `Flow` per ADF container.

Line logic follows how a browser lays out HTML (white space collapses, a block ends a line,
an empty line separates paragraphs), so the document reads as the mail did on screen. What
each container may hold comes from the ADF schema (developer.atlassian.com/cloud/jira/
platform/apis/document/structure/). Pure: no IO.
"""

from __future__ import annotations

from connector.jira.adf_nodes import (
    NO_MARKS,
    AdfNode,
    Marks,
    clean_text,
    hard_break,
    is_blank_inline,
    paragraph,
    text_node,
)
from connector.mail.html import COLLAPSIBLE_WHITESPACE

# Which block constructs each container may hold (beyond paragraphs), from the schema's
# doc_node, table_cell_content, blockquote_node and listItem_node definitions.
CAPABILITIES: dict[str, frozenset[str]] = {
    "doc": frozenset({"heading", "table", "rule", "blockquote", "list", "code", "media"}),
    "cell": frozenset({"heading", "rule", "blockquote", "list", "code", "media"}),
    "quote": frozenset({"list", "code", "media"}),
    "item": frozenset({"list", "code", "media"}),
    "heading": frozenset(),
}


class Flow:
    """Blocks of one container plus the paragraph being filled, with browser-like line logic.

    Line breaks are counted, not emitted, until more content follows: one pending break
    becomes a `hardBreak`, two or more (an empty line) start a new paragraph, and breaks at
    the start or end of a paragraph vanish, as they do on screen.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.caps = CAPABILITIES[kind]
        self.blocks: list[AdfNode] = []
        self._inline: list[AdfNode] = []
        self._marks: list[Marks | None] = []  # the Marks of each inline node, for merging
        self._breaks = 0
        self._line_content = False  # the current line shows something
        self._nbsp_line = False  # the current line holds only non-breaking spaces
        self._last_space = False

    def add_text(self, text: str, marks: Marks) -> None:
        text = COLLAPSIBLE_WHITESPACE.sub(" ", clean_text(text))
        if text.startswith(" ") and (self._last_space or not self._line_content):
            text = text[1:]
        if not text:
            return
        if not self._line_content and not text.strip(" \xa0"):
            self._nbsp_line = True
            return
        self._start_content()
        if self._inline and self._marks[-1] == marks:
            self._inline[-1]["text"] += text
        else:
            self._inline.append(text_node(text, marks.to_adf()))
            self._marks.append(marks)
        self._line_content = True
        self._last_space = text.endswith(" ")

    def add_placeholder(self, label: str, link: str | None) -> None:
        self.add_text(" " + label, Marks(em=True, link=link))
        self.add_text(" ", NO_MARKS)

    def line_break(self) -> None:
        self._breaks += 1
        self._end_line()

    def soft_break(self) -> None:
        """The edge of a block that is a line of its own (`div`): ends a line with content."""
        if self._line_content or self._nbsp_line:
            self.line_break()

    def paragraph_break(self) -> None:
        if self.kind == "heading":
            self.soft_break()
        else:
            self._emit_paragraph()

    def add_block(self, node: AdfNode) -> None:
        self._emit_paragraph()
        self.blocks.append(node)

    def finish(self) -> list[AdfNode]:
        self._emit_paragraph()
        return self.blocks

    def heading_content(self) -> list[AdfNode]:
        self._trim()
        return [] if is_blank_inline(self._inline) else self._inline

    def _end_line(self) -> None:
        self._line_content = False
        self._nbsp_line = False
        self._last_space = False

    def _start_content(self) -> None:
        if self._breaks and self._inline:
            if self._breaks >= 2 and self.kind != "heading":
                self._emit_paragraph()
            else:
                self._trim()
                self._inline.append(hard_break())
                self._marks.append(None)
        self._breaks = 0

    def _trim(self) -> None:
        while self._inline and self._inline[-1]["type"] == "text":
            stripped = self._inline[-1]["text"].rstrip(" ")
            if stripped:
                self._inline[-1]["text"] = stripped
                return
            self._inline.pop()
            self._marks.pop()

    def _emit_paragraph(self) -> None:
        self._trim()
        if self._inline and not is_blank_inline(self._inline):
            self.blocks.append(paragraph(self._inline))
        self._inline = []
        self._marks = []
        self._breaks = 0
        self._end_line()
