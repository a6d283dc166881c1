"""HTML from email: sanitise it before it is shown anywhere, and read it as plain text.

Pure: strings in, strings out (DESIGN.md, "Seams").

`sanitize_html` runs nh3 (the Rust ammonia sanitiser) with a deliberately small allow-list:

- Tags: text structure only (paragraphs, line breaks, headings, lists, quotes, preformatted
  text, tables, the simple inline styles, links and images) plus a few semantic block tags
  (`section`, `center`, `address`, ...) kept so that their line breaks survive; every other tag
  is unwrapped, keeping its text. `script`, `style`, `title`, `template`, `iframe`, `object`,
  `embed` and `xml` (Outlook's head blocks) lose their content too, so CSS or a subject never
  leaks into the text. Comments (including Outlook's `<!--[if mso]>` blocks) are dropped.
- Attributes: `a[href, title]`, `img[src, alt, title, width, height]`, `ol[start]`,
  `td/th[colspan, rowspan]`, `table[role=presentation|none]` (marks layout tables), and
  `p.MsoNormal` (Outlook's "one line" paragraphs). No `on*` handlers, no `class`, no `id`.
  `style` survives only as exactly `display:none`, so hidden preheaders and hidden tracking
  images stay hidden wherever the result is shown (and the converters skip them).
- URLs: links may be http, https or mailto; images cid (inline parts, RFC 2392), http, https or
  `data:image/<raster>` (no SVG: it can carry script when opened on its own). Relative URLs
  are removed: an email has no base to resolve them against. Anything else (`javascript:`,
  `vbscript:`, `data:text/html`, ...) loses the attribute.
- Tracking pixels: an `<img>` whose declared width and height are both at most 1 is removed by
  default (`drop_tracking_pixels=False` keeps them): they carry no content, only a read receipt
  nobody agreed to.

`html_to_text` renders the sanitised HTML the way a reader sees it: block elements end lines,
paragraphs, headings, lists, tables and quotes are separated by a blank line, list items start
with "- " or "1. " (indented when nested), quotes are prefixed with "> ", table rows become one
line with cells joined by " | " (layout tables, see `is_layout_table`, are read cell by cell),
links read "text (url)" when the text is not the address itself, images read "[image: alt]".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import urlsplit

import nh3
from lxml import etree

from connector.mail.html_nesting import cap_nesting

ALLOWED_TAGS = frozenset(
    {
        *("p", "br", "div", "span", "hr", "pre", "blockquote"),
        *("h1", "h2", "h3", "h4", "h5", "h6"),
        *("ul", "ol", "li", "dl", "dt", "dd"),
        *("table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td"),
        *("b", "strong", "i", "em", "u", "ins", "s", "strike", "del"),
        *("code", "tt", "kbd", "samp", "sub", "sup", "a", "img"),
        # Block-level containers with no formatting of their own, kept for their line breaks.
        *("center", "section", "article", "header", "footer", "main", "aside", "address"),
        *("figure", "figcaption"),
    }
)
_CONTENT_DROPPED_TAGS = frozenset(
    {"script", "style", "title", "template", "iframe", "object", "embed", "applet", "xml"}
)
_ATTRIBUTES = {
    "*": {"style"},
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_IMAGE_SCHEMES = frozenset({"cid", "http", "https"})
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpe?g|gif|webp|bmp);", re.IGNORECASE)
# One possessive run of spaces after the number: `\s*(?:px)?\s*` could split it two ways.
_DIGITS = re.compile(r"\s*+(\d{1,6})\s*+(?:px\s*+)?")
_HIDDEN_STYLE = "display:none"
# Tags of nh3's output only, where `<` and `>` appear nowhere but around tags (text and
# attribute values have them escaped): a tag is everything up to the next `>`. Written for raw
# HTML, as `(?:[^">]+|"[^"]*")*`, the nested repetition took exponential time on a tag that
# does not close.
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*+)[^<>]*+>")
_VOID_TAGS = frozenset({"br", "img", "hr"})
MAX_DEPTH = 80  # element nesting kept by parse_fragment
_TOO_DEEP = etree.XPath("boolean(" + "*/" * MAX_DEPTH + "*)")  # an element below MAX_DEPTH
_IMG_TAG = re.compile(r"<img\b[^<>]*+>")  # nh3's output, as `_TAG`
_ATTR = re.compile(r'(?<![a-z])([a-z]+)="([^"]*)"')  # from a name's start: linear in a long one
COLLAPSIBLE_WHITESPACE = re.compile(r"[ \t\n\r\f]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Block elements after which a line ends, but which add no blank line of their own.
LINE_TAGS = frozenset(
    {"div", "li", "dt", "dd", "tr", "td", "th", "caption", "figcaption"}
    | {"center", "section", "article", "header", "footer", "main", "aside", "address", "figure"}
)
# Block elements separated from their neighbours by a blank line.
PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "dl"}
    | {"table", "hr"}
)


def safe_link(href: str | None) -> str | None:
    """The link target when its scheme may be followed from a ticket (http, https, mailto)."""
    if not href:
        return None
    href = href.strip()
    try:
        scheme = urlsplit(href).scheme.lower()
    except ValueError:
        return None
    return href if scheme in LINK_SCHEMES else None


def _safe_image_source(src: str) -> str | None:
    src = src.strip()
    if _DATA_IMAGE.match(src):
        return src
    try:
        scheme = urlsplit(src).scheme.lower()
    except ValueError:
        return None
    return src if scheme in _IMAGE_SCHEMES else None


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "href":
        return safe_link(value)
    if attribute == "src":
        return _safe_image_source(value)
    if attribute in {"width", "height", "colspan", "rowspan", "start"}:
        number = _DIGITS.fullmatch(value)
        return number.group(1) if number else None
    if attribute == "style":
        # nh3 already reduced the declaration to `display`; keep only the value that hides.
        return _HIDDEN_STYLE if value.replace(" ", "").lower().startswith(_HIDDEN_STYLE) else None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(_CONTENT_DROPPED_TAGS),
    attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
    attribute_filter=_filter_attribute,
    strip_comments=True,
    tag_attribute_values={"table": {"role": {"presentation", "none"}}},
    url_schemes=set(LINK_SCHEMES | _IMAGE_SCHEMES | {"data"}),
    allowed_classes={"p": {"MsoNormal"}},
    filter_style_properties={"display"},
    url_relative="deny",
)


def _is_tracking_pixel(tag: str) -> bool:
    attributes = dict(_ATTR.findall(tag))
    width, height = attributes.get("width", ""), attributes.get("height", "")
    return width.isdigit() and height.isdigit() and int(width) <= 1 and int(height) <= 1


def sanitize_html(html: str, *, drop_tracking_pixels: bool = True) -> str:
    """Safe HTML to show or convert: the allow-list in the module docstring, nothing else."""
    # Control characters go before and after: nh3 decodes `&#1;` into a raw U+0001.
    cleaned = _CONTROL.sub("", _CLEANER.clean(_CONTROL.sub("", cap_nesting(html))))
    if drop_tracking_pixels and "<img" in cleaned:
        cleaned = _IMG_TAG.sub(
            lambda m: "" if _is_tracking_pixel(m.group(0)) else m.group(0), cleaned
        )
    return cleaned


# An HTML body that shows nothing is tiny ("<br>", an empty <div> with a style block); longer
# ones are taken to say something without looking.
_NOTHING_LIMIT = 20_000
_ANY_TAG = re.compile(r"<[^<>]*+>")
_INVISIBLE_CHARS = str.maketrans("", "", "\u200b\u200c\u200d\u2060\ufeff")


@functools.lru_cache(maxsize=16)  # asked of the same body by the MIME walk and the renderers
def says_nothing(html: str) -> bool:
    """HTML that shows no text and no image once sanitised: Apple Mail's "<br>" alternative
    next to attachments, an empty Outlook template. Whitespace and `&nbsp;` are nothing."""
    if len(html) > _NOTHING_LIMIT:
        return False
    cleaned = sanitize_html(html)
    if "<img" in cleaned:
        return False
    text = unescape(_ANY_TAG.sub("", cleaned))
    return not text.translate(_INVISIBLE_CHARS).strip()


def parse_fragment(sanitized: str) -> etree._Element:
    """The sanitised fragment as an lxml tree under one `<div>`, at most `MAX_DEPTH` deep.

    libxml2 silently drops whatever lies deeper than its limit (256, or 2048 with huge_tree),
    and broken mail does nest that deep (a `<font>` opened and never closed on every line).
    A tree deeper than `MAX_DEPTH` is parsed again without the tags below that depth (their
    text kept), which also lets the converters recurse far from Python's recursion limit.
    """
    root = _parse(sanitized)
    if _TOO_DEEP(root):
        root = _parse(_cap_depth(sanitized))
    return root


def _parse(fragment: str) -> etree._Element:
    parser = etree.HTMLParser(remove_comments=True, remove_pis=True, huge_tree=True)
    root = etree.fromstring(f"<html><body><div>{fragment}</div></body></html>", parser)
    wrapper = root.find("body/div")
    if wrapper is None:  # pragma: no cover - libxml2 always builds body/div for this input
        raise ValueError("unparseable HTML fragment")
    return wrapper


def _cap_depth(sanitized: str) -> str:
    """Remove start and end tags nested deeper than MAX_DEPTH. Relies on nh3's output: every
    element closed, only br/img/hr void, `<` and `>` escaped in text and attribute values."""
    kept: list[str] = []
    position = depth = 0
    for tag in _TAG.finditer(sanitized):
        closing, name = tag.group(1, 2)
        if name.lower() in _VOID_TAGS:
            continue
        if closing:
            depth -= 1
        if depth >= MAX_DEPTH:
            kept.append(sanitized[position : tag.start()])
            position = tag.end()
        if not closing:
            depth += 1
    kept.append(sanitized[position:])
    return "".join(kept)


def is_hidden(element: etree._Element) -> bool:
    return element.get("style") == _HIDDEN_STYLE


def children(element: etree._Element) -> Iterator[etree._Element]:
    """Child elements, without comments or processing instructions."""
    return element.iterchildren(etree.Element)


def table_rows(table: etree._Element) -> Iterator[etree._Element]:
    """The visible rows of a table, head, bodies and foot in document order, not nested ones."""
    for child in children(table):
        if is_hidden(child):
            continue
        if child.tag == "tr":
            yield child
        elif child.tag in {"thead", "tbody", "tfoot"}:
            yield from (row for row in children(child) if row.tag == "tr" and not is_hidden(row))


def row_cells(row: etree._Element) -> list[etree._Element]:
    return [cell for cell in children(row) if cell.tag in {"td", "th"} and not is_hidden(cell)]


def is_layout_table(table: etree._Element) -> bool:
    """A table used to lay out a mail (newsletters, signatures), not to show data: it says so
    (`role="presentation"`, WAI-ARIA), holds another table, or has a single column."""
    if table.get("role") in {"presentation", "none"}:
        return True
    if any(inner is not table for inner in table.iter("table")):
        return True
    return max((len(row_cells(row)) for row in table_rows(table)), default=0) <= 1


def preformatted_text(element: etree._Element) -> str:
    """The text of a `<pre>` as written, `<br>` as a newline, without edge blank lines."""
    parts: list[str] = []
    for event, node in etree.iterwalk(element, events=("start", "end")):
        if event == "start":
            parts.append("\n" if node.tag == "br" else node.text or "")
        elif node is not element:
            parts.append(node.tail or "")
    return "".join(parts).strip("\n").rstrip()


def image_label(alt: str | None, name: str | None = None) -> str:
    """How an image reads in text: `[image: name]`, else `[image: alt]`, else `[image]`."""
    label = (name or COLLAPSIBLE_WHITESPACE.sub(" ", alt or "")).strip()
    return f"[image: {label}]" if label else "[image]"
