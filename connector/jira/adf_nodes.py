"""Small builders for Atlassian Document Format nodes, shared by the text and HTML converters.

Node shapes follow developer.atlassian.com/cloud/jira/platform/apis/document/structure/ and
the draft-04 schema in `shared/specs/adf.schema.json`. Pure: no IO.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from typing import Any

AdfNode = dict[str, Any]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str) -> str:
    """Text without C0 control characters (other than tab and newline) that Jira would refuse."""
    return _CONTROL.sub("", value)


def doc(content: list[AdfNode]) -> AdfNode:
    return {"type": "doc", "version": 1, "content": content}


def paragraph(content: list[AdfNode] | None = None) -> AdfNode:
    # An empty paragraph is valid ADF; content is omitted rather than empty for readability.
    return {"type": "paragraph", "content": content} if content else {"type": "paragraph"}


def hard_break() -> AdfNode:
    return {"type": "hardBreak"}


def text_node(value: str, marks: list[AdfNode] | None = None) -> AdfNode:
    """A text node; callers never pass "" (the schema requires `minLength: 1`)."""
    node: AdfNode = {"type": "text", "text": value}
    if marks:
        node["marks"] = marks
    return node


def is_blank_inline(nodes: list[AdfNode]) -> bool:
    """True when the inline nodes would show nothing but white space."""
    for node in nodes:
        if node["type"] == "hardBreak":
            continue
        if node["type"] != "text" or node["text"].strip(" \t\n\xa0"):
            return False
    return True


@dataclass(frozen=True)
class Marks:
    """The marks in force at a point of the text.

    ADF allows `code` together with `link` only (the `code_inline_node` definition), so when
    `code` is set the other formatting is dropped rather than producing an invalid node.
    """

    link: str | None = None
    em: bool = False
    strong: bool = False
    strike: bool = False
    underline: bool = False
    code: bool = False
    subsup: str | None = None  # "sub" or "sup"

    def with_(self, name: str, value: object) -> Marks:
        return _with_mark(self, name, value)

    def to_adf(self) -> list[AdfNode]:
        marks: list[AdfNode] = []
        if self.link:
            marks.append({"type": "link", "attrs": {"href": self.link}})
        if self.code:
            marks.append({"type": "code"})
            return marks
        marks += [{"type": name} for name in ("em", "strong", "strike") if getattr(self, name)]
        if self.subsup:
            marks.append({"type": "subsup", "attrs": {"type": self.subsup}})
        if self.underline:
            marks.append({"type": "underline"})
        return marks


NO_MARKS = Marks()


@functools.lru_cache(maxsize=4096)
def _with_mark(marks: Marks, name: str, value: Any) -> Marks:
    # Mark states repeat endlessly in a long mail; dataclasses.replace is slow to redo.
    return replace(marks, **{name: value})
