"""Carrying out a reply plan on the lxml tree the lines were read from.

`connector.mail.reply_html` reads an HTML reply into lines whose "pieces" point back into the
tree (a slice of an element's text or tail, or an atom such as <br> or <img>). Here the plan
of `connector.mail.reply_plan` is applied to that tree: the end of the message is cut at one
position, dropped lines have their pieces removed, and elements left with nothing of theirs
are pruned, so what remains is the sender's markup, untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from lxml import etree

from connector.mail.reply_plan import ReplyPlan
from connector.mail.reply_scan import QuoteKind

_Position = tuple[Literal["text", "tail", "before"], etree._Element, int]


class Piece(NamedTuple):
    """A slice of an element's text or tail, or an atom (<br>, <img>, <hr>) itself."""

    element: etree._Element
    attr: Literal["text", "tail", "atom", "gap"]  # gap: the space between two table cells
    start: int
    end: int
    view: str  # as the planner sees it: whitespace as spaces, an image as U+FFFC


class Context(NamedTuple):
    """What the markup around a line says about it."""

    quote: QuoteKind | None = None
    signature: bool = False
    preformatted: bool = False


ROOT_CONTEXT = Context()


@dataclass
class LineDraft:
    context: Context
    pieces: list[int] = field(default_factory=list)
    forced_cut: bool = False
    anchor: etree._Element | None = None  # the container a forced cut starts at


class TreeText:
    """The lines of a tree and where each piece of them lives in it."""

    def __init__(self) -> None:
        self.lines: list[LineDraft] = []
        self.pieces: list[Piece] = []
        self.piece_line: list[int] = []
        # Elements in document order of their opening tags, with the pieces [first, end)
        # inside them (their own tail excluded).
        self.span_elements: list[etree._Element] = []
        self.span_first: list[int] = []
        self.span_end: list[int] = []
        self.current: LineDraft | None = None  # the line being read
        # Reading stopped after MAX_PLANNED_LINES lines (see `plan_reply`): what follows
        # was not read and must be left alone unless the history was cut above it.
        self.truncated = False

    def line_text(self, draft: LineDraft) -> str:
        return "".join([self.pieces[index].view for index in draft.pieces])


def apply_plan(reader: TreeText, plan: ReplyPlan, *, cut_end: bool) -> None:
    """Carry out the plan; with `cut_end`, everything after the last kept line goes too."""
    keep = plan.keep
    deleted = [False] * len(reader.pieces)
    last_kept = max(index for index, value in enumerate(keep) if value != 0)
    cut: _Position | None = None
    partial = keep[last_kept]
    if not cut_end:
        last_kept = len(reader.lines) - 1
    elif partial is not None and partial < len(reader.line_text(reader.lines[last_kept])):
        cut = _position_in_line(reader, last_kept, partial)
        _mark_from(reader, last_kept, partial, deleted)
    elif last_kept + 1 < len(reader.lines):
        cut = _line_start(reader, last_kept + 1)
    for number, draft in enumerate(reader.lines):
        if number > last_kept or keep[number] == 0:
            for index in draft.pieces:
                deleted[index] = True
    if cut is not None:
        _cut_from(cut)
    _delete_pieces(reader, deleted, last_kept)
    _prune(reader, deleted)


def _position_in_line(reader: TreeText, number: int, offset: int) -> _Position:
    """The tree position of character `offset` of a line (which is shorter than the line)."""
    seen = 0
    pieces = [reader.pieces[index] for index in reader.lines[number].pieces]
    for piece in pieces:
        if offset < seen + len(piece.view) or (piece.attr == "atom" and offset == seen):
            return _piece_position(piece, offset - seen)
        seen += len(piece.view)
    return _piece_position(pieces[-1], len(pieces[-1].view))


def _piece_position(piece: Piece, offset: int) -> _Position:
    if piece.attr == "text":
        return ("text", piece.element, piece.start + offset)
    if piece.attr == "tail":
        return ("tail", piece.element, piece.start + offset)
    return ("before", piece.element, 0)


def _mark_from(reader: TreeText, number: int, offset: int, deleted: list[bool]) -> None:
    seen = 0
    for index in reader.lines[number].pieces:
        if seen >= offset:
            deleted[index] = True
        seen += len(reader.pieces[index].view)


def _line_start(reader: TreeText, number: int) -> _Position:
    draft = reader.lines[number]
    if draft.anchor is not None:
        return ("before", draft.anchor, 0)
    return _piece_position(reader.pieces[draft.pieces[0]], 0)


def _cut_from(position: _Position) -> None:
    """Remove everything from `position` to the end of the document."""
    kind, element, offset = position
    node: etree._Element | None
    if kind == "before":
        node = element.getparent()
        if node is None:
            return
        _remove_following_siblings(element)
        node.remove(element)  # its tail goes with it: it is after the position too
    elif kind == "text":
        element.text = (element.text or "")[:offset] or None
        for child in list(element):
            element.remove(child)
        node = element
    else:
        element.tail = (element.tail or "")[:offset] or None
        _remove_following_siblings(element)
        node = element.getparent()
    while node is not None:
        node.tail = None
        _remove_following_siblings(node)
        node = node.getparent()


def _remove_following_siblings(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    for sibling in list(element.itersiblings()):
        parent.remove(sibling)


def _delete_pieces(reader: TreeText, deleted: list[bool], last_kept: int) -> None:
    ranges: dict[tuple[int, str], tuple[etree._Element, list[tuple[int, int]]]] = {}
    atoms: list[etree._Element] = []
    for index, piece in enumerate(reader.pieces):
        if not deleted[index] or reader.piece_line[index] > last_kept or piece.attr == "gap":
            continue  # kept, already gone with the cut, or not in the tree
        if piece.attr == "atom":
            atoms.append(piece.element)
        else:
            key = (id(piece.element), piece.attr)
            ranges.setdefault(key, (piece.element, []))[1].append((piece.start, piece.end))
    for (_, attr), (element, spans) in ranges.items():
        value: str = getattr(element, attr) or ""
        kept: list[str] = []
        position = 0
        for start, end in sorted(spans):
            kept.append(value[position:start])
            position = max(position, end)
        kept.append(value[position:])
        setattr(element, attr, "".join(kept) or None)
    for atom in atoms:
        _remove_keeping_tail(atom)


def _prune(reader: TreeText, deleted: list[bool]) -> None:
    """Remove elements all of whose text, images and breaks were removed."""
    totals = [0]
    for flag in deleted:
        totals.append(totals[-1] + flag)
    removed_until = -1
    for element, first, end in zip(
        reader.span_elements, reader.span_first, reader.span_end, strict=True
    ):
        if end <= first or first < removed_until or totals[end] - totals[first] != end - first:
            continue
        if str(element.tag).lower() in ("html", "head", "body") or element.getparent() is None:
            continue
        _remove_keeping_tail(element)
        removed_until = end


def _remove_keeping_tail(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)
