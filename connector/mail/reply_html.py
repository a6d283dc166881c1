"""HTML replies: read the rendered lines, let the planner decide, remove the rest from the DOM.

The markup tells more than the text: Gmail wraps history in `blockquote.gmail_quote`, Apple
Mail and Thunderbird in `blockquote type="cite"`, Yahoo in `div.yahoo_quoted`; Outlook starts
it with `div#divRplyFwdMsg`, `#appendonsend` or a `border-top` rule over a From/Sent block;
signatures live in `div.gmail_signature` or `.moz-signature`. Those become attributes of the
`Line`s; text markers ("On ... wrote:", "-----Original Message-----") are found by the same
planner as in plain text. The result is the input's HTML minus what was removed, not sanitised.

Each line keeps "pieces" pointing back into the tree (a slice of an element's text or tail,
or an atom such as <br> or <img>), so the plan maps onto the DOM exactly; carrying it out is
`connector.mail.reply_dom`'s job.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from typing import Literal

import lxml.html
from lxml import etree

from connector.mail.quotes import has_header_fields, is_quoted
from connector.mail.reply_dom import ROOT_CONTEXT, Context, LineDraft, Piece, TreeText, apply_plan
from connector.mail.reply_plan import MAX_PLANNED_LINES, plan_reply
from connector.mail.reply_scan import Line

_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "body", "caption", "center", "dd"),
        *("details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure"),
        *("footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "html"),
        *("li", "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "table"),
        *("tbody", "tfoot", "thead", "tr", "ul"),
    }
)
# Cells of a row share a line, as in Lotus Notes' header table ("Von:" | "Ann <a@b.c>").
_CELL_TAGS = frozenset({"td", "th"})
_SKIPPED_TAGS = frozenset({"head", "script", "style", "title", "template", "noscript", "xml"})
_PREFORMATTED_TAGS = frozenset({"pre", "textarea", "listing", "plaintext", "xmp"})
_ATOM_TAGS = frozenset({"br", "img", "hr"})
# Tags whose meaning does not depend on attributes; others without any are plain containers.
_TAGS_WITH_MEANING = _PREFORMATTED_TAGS | {"blockquote"}
_QUOTE_CLASSES = frozenset({"yahoo_quoted", "moz-cite-prefix", "gmail_attr", "protonmail_quote"})
_SIGNATURE_CLASSES = frozenset({"gmail_signature", "moz-signature"})
_SIGNATURE_IDS = frozenset({"Signature", "signature", "ms-outlook-mobile-signature"})
_CUT_IDS = frozenset(
    {
        "divRplyFwdMsg",
        "appendonsend",
        "OLK_SRC_BODY_SECTION",
        "mail-editor-reference-message-container",
    }
)
_CUT_CLASSES = frozenset({"OutlookMessageHeader"})
_BORDER_TOP_RE = re.compile(r"border-top(?:-style)?\s*:[^;]*\bsolid", re.IGNORECASE)
# Gmail's "Indent" button: a blockquote that only moves one's own text to the right.
_INDENT_STYLE_RE = re.compile(r"border\s*:\s*none", re.IGNORECASE)
_XML_DECLARATION_RE = re.compile(r"^\s*<\?xml[^>]*>")
_DOCTYPE_RE = re.compile(r"^\s*(<!doctype[^>]*>)", re.IGNORECASE)
_DOCUMENT_RE = re.compile(r"<(?:html|body)[\s>]", re.IGNORECASE)
# libxml2 rejects these, and no mail client means them.
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")
_WHITESPACE_TO_SPACE = str.maketrans("\r\n\t\f\v", "     ")
_OBJECT_REPLACEMENT = "\ufffc"  # stands for an image, so a picture counts as content


@dataclass(frozen=True)
class ReplyHtml:
    """The new part of an HTML reply, as HTML (not sanitised: `connector.mail.html` does that).

    A fragment in gives a fragment out; a document in gives a document out. When `kept_whole`
    or `forward_kept`, `html` is the input unchanged. The flags mean what they mean in
    `connector.mail.reply.ReplyText`.
    """

    html: str
    quote_found: bool
    signature_found: bool
    kept_whole: bool
    forward_kept: bool


def extract_reply_html(html: str) -> ReplyHtml:
    """The new part of an HTML reply, as HTML; see the module docstring."""
    unchanged = ReplyHtml(html, False, False, True, False)
    source = _CONTROL_CHARS_RE.sub("", _XML_DECLARATION_RE.sub("", html, count=1))
    if not source.strip():
        return unchanged
    try:
        root = lxml.html.document_fromstring(source, ensure_head_body=True)
    except (etree.ParserError, ValueError):
        return unchanged
    reader = _Reader()
    reader.read(root)
    lines = []
    for draft in reader.lines:
        text = reader.line_text(draft)
        quote = draft.context.quote or ("marker" if is_quoted(text) else None)
        lines.append(Line(text, quote, draft.forced_cut, draft.context.signature))
    plan = plan_reply(lines, more_below=reader.truncated)
    flags = (plan.quote_found, plan.signature_found, plan.kept_whole, plan.forward_kept)
    if plan.kept_whole or plan.forward_kept or all(keep is None for keep in plan.keep):
        return ReplyHtml(html, *flags)
    apply_plan(reader, plan, cut_end=plan.cut_line is not None or not reader.truncated)
    return ReplyHtml(_serialise(root, html), *flags)


class _Reader(TreeText):
    """Walks the tree in document order and cuts its text into lines."""

    def read(self, root: etree._Element) -> None:
        # iterwalk runs in C and needs no recursion: hostile mail nests thousands deep.
        contexts = [ROOT_CONTEXT]
        frames: list[tuple[int, bool]] = []  # per open element: span index (-1: skipped), breaks
        walker = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
        for event, element in walker:
            if len(self.lines) > MAX_PLANNED_LINES:
                self.truncated = True
                break
            if event == "start":
                tag = element.tag.lower() if isinstance(element.tag, str) else ""
                context = contexts[-1]
                if tag in _SKIPPED_TAGS:
                    walker.skip_subtree()
                    frames.append((-1, False))
                    contexts.append(context)
                    continue
                inner, forced_cut = self._enter(element, tag, context)
                breaks = forced_cut or tag in _BLOCK_TAGS or inner is not context
                if breaks:
                    self.current = None
                if forced_cut:
                    self.lines.append(LineDraft(inner, forced_cut=True, anchor=element))
                if tag in _CELL_TAGS and self.current is not None:
                    # Before the cell's span: the space belongs to neither cell.
                    self._add(Piece(element, "gap", 0, 0, " "), self.current.context)
                frames.append((len(self.span_elements), breaks))
                contexts.append(inner)
                self.span_elements.append(element)
                self.span_first.append(len(self.pieces))
                self.span_end.append(len(self.pieces))
                if tag in _ATOM_TAGS:
                    self._atom(element, inner, tag)
                elif element.text:
                    self._text(element, "text", element.text, inner)
            elif event == "end":
                span, breaks = frames.pop()
                contexts.pop()
                if span >= 0:
                    if breaks:
                        self.current = None
                    self.span_end[span] = len(self.pieces)
                if element.tail:
                    self._text(element, "tail", element.tail, contexts[-1])
            elif element.tail:  # a comment or processing instruction: only its tail shows
                self._text(element, "tail", element.tail, contexts[-1])

    def _enter(self, element: etree._Element, tag: str, context: Context) -> tuple[Context, bool]:
        """The context inside `element`, and whether history starts at it."""
        if not len(element.attrib) and tag not in _TAGS_WITH_MEANING:
            return context, False
        classes = set((element.get("class") or "").split())
        element_id = element.get("id") or ""
        quote = context.quote
        if tag == "blockquote":
            if (
                (element.get("type") or "").lower() == "cite"
                or "gmail_quote" in classes
                or element.get("cite")
            ):
                quote = "cite"
            elif quote is None and not _INDENT_STYLE_RE.search(element.get("style") or ""):
                quote = "block"
        elif classes & _QUOTE_CLASSES:
            quote = "cite"
        signature = (
            context.signature
            or bool(classes & _SIGNATURE_CLASSES)
            or element.get("data-smartmail") == "gmail_signature"
            or element_id in _SIGNATURE_IDS
        )
        forced_cut = (
            element_id in _CUT_IDS
            or bool(classes & _CUT_CLASSES)
            or (tag == "hr" and element_id == "stopSpelling")
            or (
                tag in ("div", "p")
                and _BORDER_TOP_RE.search(element.get("style") or "") is not None
                and has_header_fields(_leading_text(element))
            )
        )
        preformatted = context.preformatted or tag in _PREFORMATTED_TAGS
        inner = Context(quote, signature, preformatted)
        return (context if inner == context else inner), forced_cut

    def _atom(self, element: etree._Element, context: Context, tag: str) -> None:
        if tag == "hr":
            self.current = None
        view = _OBJECT_REPLACEMENT if tag == "img" else ""
        self._add(Piece(element, "atom", 0, 0, view), context)
        if tag in ("br", "hr"):
            self.current = None

    def _text(
        self,
        element: etree._Element,
        attr: Literal["text", "tail"],
        value: str,
        context: Context,
    ) -> None:
        if not context.preformatted:
            if self.current is None and not value.strip():
                return  # indentation between blocks
            self._add(
                Piece(element, attr, 0, len(value), value.translate(_WHITESPACE_TO_SPACE)),
                context,
            )
            return
        start = 0
        for segment in value.split("\n"):
            # Empty segments too: a blank line of <pre> text is a line, and its empty piece
            # gives it a position in the tree.
            end = start + len(segment)
            view = segment.translate(_WHITESPACE_TO_SPACE)
            self._add(Piece(element, attr, start, end, view), context)
            if end < len(value):
                self.current = None
            start = end + 1

    def _add(self, piece: Piece, context: Context) -> None:
        current = self.current
        if current is None or current.context is not context:
            current = self.current = LineDraft(context)
            self.lines.append(current)
        current.pieces.append(len(self.pieces))
        self.pieces.append(piece)
        self.piece_line.append(len(self.lines) - 1)


def _leading_text(element: etree._Element, limit: int = 2000) -> str:
    """The first `limit` characters of text inside `element`, without walking all of it
    (nested bordered <div>s would otherwise cost a pass each over the rest of the mail)."""
    parts: list[str] = []
    size = 0
    for text in element.itertext():
        if isinstance(text, str):
            parts.append(text)
            size += len(text) + 1
            if size >= limit:
                break
    return " ".join(parts)[:limit]


def _serialise(root: etree._Element, original: str) -> str:
    if _DOCUMENT_RE.search(original):
        text = etree.tostring(root, encoding="unicode", method="html")
        doctype = _DOCTYPE_RE.match(original)
        return f"{doctype.group(1)}\n{text}" if doctype else text
    # A fragment came in: give a fragment back (what the parser moved into <head>, then the
    # body's content), not the <html><body> wrapper the parser added.
    parts: list[str] = []
    head, body = root.find("head"), root.find("body")
    if head is not None:
        parts.extend(etree.tostring(child, encoding="unicode", method="html") for child in head)
    if body is not None:
        parts.append(html_lib.escape(body.text or "", quote=False))
        parts.extend(etree.tostring(child, encoding="unicode", method="html") for child in body)
    return "".join(parts)
