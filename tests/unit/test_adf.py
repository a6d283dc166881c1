"""Atlassian Document Format builders (connector/jira/adf.py and its adf_* helpers).

Every document is validated against Atlassian's ADF schema (draft-04) from ../shared/specs.
"""

from __future__ import annotations

import email
import email.policy
import functools
import json
import random
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from jsonschema import Draft4Validator

from connector.jira import adf_nodes
from connector.jira.adf import (
    JIRA_TEXT_LIMIT,
    adf_to_html,
    adf_to_text,
    fit_to_limit,
    html_to_adf,
    serialized_length,
    text_to_adf,
)
from tests.shared import shared_path

Node = dict[str, Any]


@functools.cache
def _validator() -> Any:
    schema = json.loads(shared_path("specs", "adf.schema.json").read_text(encoding="utf-8"))
    return Draft4Validator(schema)


def assert_valid_adf(document: Node) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message[:300]}" for e in _validator().iter_errors(document)
    ]
    assert errors == [], errors[:3]


def nodes(document: Node, kind: str) -> list[Node]:
    """Every node of a type, depth first."""
    found: list[Node] = []
    stack = [document]
    while stack:
        node = stack.pop(0)
        if node.get("type") == kind:
            found.append(node)
        stack[:0] = node.get("content", [])
    return found


def texts(document: Node) -> list[str]:
    return [node["text"] for node in nodes(document, "text")]


def mark_types(node: Node) -> list[str]:
    return [mark["type"] for mark in node.get("marks", [])]


def paragraph_texts(document: Node) -> list[str]:
    return ["".join(texts(p)) for p in document["content"] if p["type"] == "paragraph"]


def _empty_text_absent(document: Node) -> bool:
    return all(node["text"] for node in nodes(document, "text"))


# --- the check itself can fail -----------------------------------------------------------


def test_adf_schema_empty_text_node_rejected() -> None:
    document = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}],
    }

    with pytest.raises(AssertionError):
        assert_valid_adf(document)


def test_adf_schema_code_mark_combined_with_strong_rejected() -> None:
    text = {"type": "text", "text": "x", "marks": [{"type": "code"}, {"type": "strong"}]}
    document = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [text]}]}

    with pytest.raises(AssertionError):
        assert_valid_adf(document)


def test_adf_schema_heading_inside_blockquote_rejected() -> None:
    heading = {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "x"}]}
    document = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "blockquote", "content": [heading]}],
    }

    with pytest.raises(AssertionError):
        assert_valid_adf(document)


# --- text_to_adf -------------------------------------------------------------------------


def test_text_to_adf_blank_lines_split_paragraphs_and_newlines_become_hard_breaks() -> None:
    document = text_to_adf("Hello team,\r\nthe printer is down.\r\n\r\n\r\nThanks\nAnn\n")

    assert_valid_adf(document)
    assert [block["type"] for block in document["content"]] == ["paragraph", "paragraph"]
    first = document["content"][0]["content"]
    assert [node["type"] for node in first] == ["text", "hardBreak", "text"]
    assert paragraph_texts(document) == ["Hello team,the printer is down.", "ThanksAnn"]


def test_text_to_adf_urls_and_addresses_become_links_without_trailing_punctuation() -> None:
    document = text_to_adf(
        "See https://example.com/a_(b) and (http://x.test/p?q=1). Mail ann@example.org, "
        "or mailto:bob@example.org."
    )

    assert_valid_adf(document)
    links = [
        (n["text"], n["marks"][0]["attrs"]["href"]) for n in nodes(document, "text") if "marks" in n
    ]
    assert links == [
        ("https://example.com/a_(b)", "https://example.com/a_(b)"),
        ("http://x.test/p?q=1", "http://x.test/p?q=1"),
        ("ann@example.org", "mailto:ann@example.org"),
        ("mailto:bob@example.org", "mailto:bob@example.org"),
    ]
    assert "".join(texts(document)).endswith("or mailto:bob@example.org.")


def test_text_to_adf_scheme_without_host_stays_text() -> None:
    document = text_to_adf("broken https:// link")

    assert nodes(document, "text") == [{"type": "text", "text": "broken https:// link"}]


def test_text_to_adf_unclosed_ipv6_bracket_stays_text() -> None:
    """`urlsplit` raises on "http://[::1": such a body used to fail the whole message."""
    document = text_to_adf("try http://[::1 now")

    assert nodes(document, "text") == [{"type": "text", "text": "try http://[::1 now"}]


def test_text_to_adf_address_links_from_the_start_of_its_run() -> None:
    document = text_to_adf("to .j.doe+it@mail.example.org, x-y@a-b.example; not@local")

    links = [n["text"] for n in nodes(document, "text") if "marks" in n]
    assert links == [".j.doe+it@mail.example.org", "x-y@a-b.example"]


def test_text_to_adf_dash_and_star_lines_become_bullet_list() -> None:
    document = text_to_adf("Please check:\n- the toner\n* the paper tray\nThanks")

    assert_valid_adf(document)
    assert [block["type"] for block in document["content"]] == [
        "paragraph",
        "bulletList",
        "paragraph",
    ]
    items = document["content"][1]["content"]
    assert ["".join(texts(item)) for item in items] == ["the toner", "the paper tray"]


def test_text_to_adf_numbered_lines_become_ordered_list_with_start() -> None:
    document = text_to_adf("3. third\n4) fourth")

    assert_valid_adf(document)
    (ordered,) = document["content"]
    assert ordered["type"] == "orderedList"
    assert ordered["attrs"] == {"order": 3}
    assert len(ordered["content"]) == 2


def test_text_to_adf_indented_items_nest_and_continuation_lines_join_item() -> None:
    document = text_to_adf("- a\n  continued\n  - a.1\n    1. a.1.i\n  - a.2\n- b\n\n- c")

    assert_valid_adf(document)
    (outer,) = document["content"]
    assert [node["type"] for node in outer["content"][0]["content"]] == ["paragraph", "bulletList"]
    first_paragraph = outer["content"][0]["content"][0]["content"]
    assert [n["type"] for n in first_paragraph] == ["text", "hardBreak", "text"]
    inner = outer["content"][0]["content"][1]
    assert ["".join(texts(item)) for item in inner["content"]] == ["a.1a.1.i", "a.2"]
    assert (
        nodes(inner, "orderedList")[0]["content"][0]["content"][0]["content"][0]["text"] == "a.1.i"
    )
    assert ["".join(texts(item)) for item in outer["content"]][1:] == ["b", "c"]


def test_text_to_adf_list_kind_change_starts_new_list() -> None:
    document = text_to_adf("- a\n1. one")

    assert [block["type"] for block in document["content"]] == ["bulletList", "orderedList"]


def test_text_to_adf_quoted_lines_become_one_blockquote() -> None:
    document = text_to_adf("My answer\n\nOn Monday Ann wrote:\n> Question?\n>\n>> older\n> - item")

    assert_valid_adf(document)
    quote = document["content"][-1]
    assert quote["type"] == "blockquote"
    assert [block["type"] for block in quote["content"]] == ["paragraph", "paragraph", "bulletList"]
    assert texts(quote) == ["Question?", "older", "item"]


def test_text_to_adf_control_characters_dropped_and_empty_input_gives_empty_doc() -> None:
    assert text_to_adf("\x00a\x07b\x1b") == adf_nodes.doc(
        [adf_nodes.paragraph([adf_nodes.text_node("ab")])]
    )
    assert text_to_adf("") == {"type": "doc", "version": 1, "content": []}
    assert text_to_adf(" \n\t\n") == {"type": "doc", "version": 1, "content": []}


@pytest.mark.parametrize(
    "text",
    [
        "-",
        "- ",
        "1.",
        ">",
        "> ",
        ">>>",
        "* * *",
        "1. \n2.",
        "http://",
        "a@b",
        "\n\n-\n>\n1)",
        "  - x",
    ],
)
def test_text_to_adf_degenerate_input_validates_without_empty_text(text: str) -> None:
    document = text_to_adf(text)

    assert_valid_adf(document)
    assert _empty_text_absent(document)


# --- html_to_adf: blocks -----------------------------------------------------------------


def test_html_to_adf_paragraphs_and_hard_breaks() -> None:
    document = html_to_adf("<p>Hello<br>world</p><p>Second</p>")

    assert_valid_adf(document)
    assert document["content"] == [
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "Hello"},
                {"type": "hardBreak"},
                {"type": "text", "text": "world"},
            ],
        },
        {"type": "paragraph", "content": [{"type": "text", "text": "Second"}]},
    ]


def test_html_to_adf_whitespace_collapsed_like_a_browser() -> None:
    document = html_to_adf("<p>\n  Hello \t\n <b> big </b>  world&nbsp;&nbsp;!  </p>")

    assert_valid_adf(document)
    assert "".join(texts(document)) == "Hello big world\xa0\xa0!"


def test_html_to_adf_div_lines_flattened_and_empty_div_separates_paragraphs() -> None:
    html = "<div>Hi</div><div><br></div><div>Line one</div><div>Line two<br></div><div>three</div>"

    document = html_to_adf(html)

    assert_valid_adf(document)
    assert paragraph_texts(document) == ["Hi", "Line oneLine twothree"]
    assert len(nodes(document, "hardBreak")) == 2


def test_html_to_adf_outlook_msonormal_lines_and_nbsp_blank_line() -> None:
    html = (
        '<div class="WordSection1"><p class="MsoNormal">Hi John,<o:p></o:p></p>'
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal">Thanks<o:p></o:p></p>'
        '<p class="MsoNormal">Ann<o:p></o:p></p></div>'
    )

    document = html_to_adf(html)

    assert_valid_adf(document)
    assert paragraph_texts(document) == ["Hi John,", "ThanksAnn"]


def test_html_to_adf_headings_keep_level() -> None:
    html = "".join(f"<h{level}>Title {level}</h{level}>" for level in range(1, 7))

    document = html_to_adf(html)

    assert_valid_adf(document)
    assert [(h["attrs"]["level"], texts(h)) for h in nodes(document, "heading")] == [
        (level, [f"Title {level}"]) for level in range(1, 7)
    ]


def test_html_to_adf_nested_lists_built_and_order_kept() -> None:
    html = (
        "<ol start='2'><li>two<ul><li>a</li><li>b<ol><li>deep</li></ol></li></ul></li>"
        "<li>three</li></ol>"
    )

    document = html_to_adf(html)

    assert_valid_adf(document)
    (ordered,) = document["content"]
    assert ordered["type"] == "orderedList" and ordered["attrs"] == {"order": 2}
    first_item = ordered["content"][0]["content"]
    assert [block["type"] for block in first_item] == ["paragraph", "bulletList"]
    assert nodes(first_item[1], "orderedList")[0]["content"][0]["content"][0]["content"] == [
        {"type": "text", "text": "deep"}
    ]
    assert texts(ordered["content"][1]) == ["three"]


def test_html_to_adf_list_nested_directly_in_list_joins_previous_item() -> None:
    document = html_to_adf("<ul><li>parent</li><ul><li>child</li></ul><li>next</li></ul>")

    assert_valid_adf(document)
    items = document["content"][0]["content"]
    assert len(items) == 2
    assert [block["type"] for block in items[0]["content"]] == ["paragraph", "bulletList"]


def test_html_to_adf_item_starting_with_list_gets_empty_paragraph_first() -> None:
    document = html_to_adf("<ul><li><ul><li>inner</li></ul></li></ul>")

    assert_valid_adf(document)
    assert document["content"][0]["content"][0]["content"][0] == {"type": "paragraph"}


def test_html_to_adf_heading_and_quote_inside_list_item_flattened() -> None:
    document = html_to_adf("<ul><li><h2>Head</h2><blockquote>quoted</blockquote></li></ul>")

    assert_valid_adf(document)
    assert nodes(document, "heading") == [] and nodes(document, "blockquote") == []
    head = nodes(document, "text")[0]
    assert head == {"type": "text", "text": "Head", "marks": [{"type": "strong"}]}
    assert texts(document) == ["Head", "quoted"]


def test_html_to_adf_nested_blockquotes_merged_into_one() -> None:
    html = (
        "<p>Reply</p><blockquote><p>outer</p><blockquote><p>inner</p></blockquote>"
        "<h1>H</h1></blockquote>"
    )

    document = html_to_adf(html)

    assert_valid_adf(document)
    quotes = nodes(document, "blockquote")
    assert len(quotes) == 1
    assert paragraph_texts(quotes[0]) == ["outer", "inner", "H"]


def test_html_to_adf_pre_becomes_code_block_with_whitespace_and_no_marks() -> None:
    document = html_to_adf("<pre><b>  def f():</b>\n      return 1<br>x</pre>")

    assert_valid_adf(document)
    assert document["content"] == [
        {
            "type": "codeBlock",
            "content": [{"type": "text", "text": "  def f():\n      return 1\nx"}],
        }
    ]


def test_html_to_adf_hr_becomes_rule() -> None:
    document = html_to_adf("<p>a</p><hr><p>b</p>")

    assert_valid_adf(document)
    assert [block["type"] for block in document["content"]] == ["paragraph", "rule", "paragraph"]


# --- html_to_adf: tables -----------------------------------------------------------------


def test_html_to_adf_table_headers_cells_and_paragraph_content() -> None:
    html = (
        "<table><thead><tr><th>Item</th><th>Qty</th></tr></thead>"
        "<tbody><tr><td><b>Toner</b></td><td><p>2</p><p>boxes</p></td></tr>"
        "<tr><td></td><td>1</td></tr></tbody></table>"
    )

    document = html_to_adf(html)

    assert_valid_adf(document)
    (table,) = document["content"]
    rows = table["content"]
    assert [[cell["type"] for cell in row["content"]] for row in rows] == [
        ["tableHeader", "tableHeader"],
        ["tableCell", "tableCell"],
        ["tableCell", "tableCell"],
    ]
    assert [p["type"] for p in rows[1]["content"][1]["content"]] == ["paragraph", "paragraph"]
    assert rows[2]["content"][0]["content"] == [{"type": "paragraph"}]


def test_html_to_adf_table_spans_kept_and_rows_padded_to_grid() -> None:
    html = (
        "<table><tr><th colspan='2'>Wide</th><th>C</th></tr>"
        "<tr><td rowspan='2'>Tall</td><td>b</td></tr><tr><td>x</td><td>y</td></tr></table>"
    )

    document = html_to_adf(html)

    assert_valid_adf(document)
    rows = document["content"][0]["content"]
    assert rows[0]["content"][0]["attrs"] == {"colspan": 2}
    assert rows[1]["content"][0]["attrs"] == {"rowspan": 2}
    assert [len(row["content"]) for row in rows] == [2, 3, 2]  # row 2 padded to 3 columns
    assert rows[1]["content"][2] == {"type": "tableCell", "content": [{"type": "paragraph"}]}


def test_html_to_adf_table_colspan_clamped_to_widest_row() -> None:
    html = "<table><tr><td colspan='99'>Title</td></tr><tr><td>a</td><td>b</td></tr></table>"

    document = html_to_adf(html)

    assert_valid_adf(document)
    rows = document["content"][0]["content"]
    assert rows[0]["content"][0]["attrs"] == {"colspan": 2}
    assert [len(row["content"]) for row in rows] == [1, 2]


def test_html_to_adf_layout_tables_flattened_inner_data_table_kept() -> None:
    html = (
        "<table><tr><td><p>Dear customer,</p><table><tr><th>Order</th><th>Total</th></tr>"
        "<tr><td>42</td><td>9.90</td></tr></table></td></tr>"
        "<tr><td>Regards</td></tr></table>"
    )

    document = html_to_adf(html)

    assert_valid_adf(document)
    assert [block["type"] for block in document["content"]] == ["paragraph", "table", "paragraph"]
    assert len(nodes(document, "table")) == 1


def test_html_to_adf_presentation_table_read_as_lines() -> None:
    html = '<table role="presentation"><tr><td>Logo</td><td>ACME Ltd</td></tr></table>'

    document = html_to_adf(html)

    assert_valid_adf(document)
    assert nodes(document, "table") == []
    assert [n["type"] for n in document["content"][0]["content"]] == ["text", "hardBreak", "text"]


def test_html_to_adf_table_inside_quote_read_row_by_row() -> None:
    rows = "<tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr>"
    html = f"<blockquote><table>{rows}</table></blockquote>"

    document = html_to_adf(html)

    assert_valid_adf(document)
    assert nodes(document, "table") == []
    assert texts(document) == ["a | b", "c | d"]


# --- html_to_adf: marks and links --------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "marks"),
    [
        ("<b>x</b>", [{"type": "strong"}]),
        ("<strong>x</strong>", [{"type": "strong"}]),
        ("<i>x</i>", [{"type": "em"}]),
        ("<em>x</em>", [{"type": "em"}]),
        ("<u>x</u>", [{"type": "underline"}]),
        ("<s>x</s>", [{"type": "strike"}]),
        ("<del>x</del>", [{"type": "strike"}]),
        ("<strike>x</strike>", [{"type": "strike"}]),
        ("<code>x</code>", [{"type": "code"}]),
        ("<sub>x</sub>", [{"type": "subsup", "attrs": {"type": "sub"}}]),
        ("<sup>x</sup>", [{"type": "subsup", "attrs": {"type": "sup"}}]),
        ("<b><i><u>x</u></i></b>", [{"type": "em"}, {"type": "strong"}, {"type": "underline"}]),
    ],
)
def test_html_to_adf_formatting_becomes_marks(html: str, marks: list[Node]) -> None:
    document = html_to_adf(f"<p>{html}</p>")

    assert_valid_adf(document)
    assert nodes(document, "text") == [{"type": "text", "text": "x", "marks": marks}]


def test_html_to_adf_code_drops_other_marks_but_keeps_link() -> None:
    html = '<p><b><i>bold <code>code</code></i></b> <a href="https://e.example"><b><code>c</code></b></a></p>'

    document = html_to_adf(html)

    assert_valid_adf(document)
    by_text = {node["text"]: mark_types(node) for node in nodes(document, "text")}
    assert by_text["code"] == ["code"]
    assert by_text["c"] == ["link", "code"]
    assert by_text["bold "] == ["em", "strong"]


def test_html_to_adf_links_only_for_web_and_mail_schemes() -> None:
    html = (
        '<p><a href="https://e.example/x?a=1&amp;b=2">web</a> '
        '<a href="mailto:a@e.example">mail</a> '
        '<a href="javascript:alert(1)">js</a> <a href="ftp://e.example">ftp</a></p>'
    )

    document = html_to_adf(html)

    assert_valid_adf(document)
    hrefs = {
        node["text"]: [m["attrs"]["href"] for m in node.get("marks", []) if m["type"] == "link"]
        for node in nodes(document, "text")
    }
    assert hrefs["web"] == ["https://e.example/x?a=1&b=2"]
    assert hrefs["mail"] == ["mailto:a@e.example"]
    assert all(not hrefs[text] for text in hrefs if "js" in text or "ftp" in text)
    assert "alert" not in json.dumps(document)


def test_html_to_adf_script_style_and_hidden_content_absent() -> None:
    html = (
        "<style>p{}</style><script>alert('x')</script><div style='display:none'>preheader</div>"
        "<p onclick='x()'>Visible</p>"
    )

    document = html_to_adf(html)

    assert_valid_adf(document)
    assert texts(document) == ["Visible"]


# --- html_to_adf: images -----------------------------------------------------------------


def test_html_to_adf_cid_image_names_the_attachment() -> None:
    html = (
        '<p>Screenshot: <img src="cid:image001.png@01D9" alt="shot"> done</p>'
        '<p><img src="cid:%3Cother@x%3E"></p>'
    )
    images = {"<image001.png@01D9>": "image001.png", "other@x": "diagram.jpg"}

    document = html_to_adf(html, inline_images=images)

    assert_valid_adf(document)
    placeholders = [node for node in nodes(document, "text") if node["text"].startswith("[image")]
    assert placeholders == [
        {"type": "text", "text": "[image: image001.png]", "marks": [{"type": "em"}]},
        {"type": "text", "text": "[image: diagram.jpg]", "marks": [{"type": "em"}]},
    ]
    assert paragraph_texts(document)[0] == "Screenshot: [image: image001.png] done"


def test_html_to_adf_cid_lookup_ignores_case() -> None:
    document = html_to_adf('<img src="cid:ABC@Host">', inline_images={"abc@host": "a.png"})

    assert texts(document) == ["[image: a.png]"]


def test_html_to_adf_unknown_cid_falls_back_to_alt() -> None:
    document = html_to_adf('<img src="cid:missing" alt="chart">', inline_images={"x": "y.png"})

    assert texts(document) == ["[image: chart]"]


def test_html_to_adf_cid_image_with_media_id_becomes_media_single() -> None:
    image = '<img src="cid:a@b">'
    html = f"<p>before{image}after</p><ul><li>{image}</li></ul><h1>{image}</h1>"

    document = html_to_adf(
        html, inline_images={"a@b": "photo.png"}, media_ids={"photo.png": "f-123"}
    )

    assert_valid_adf(document)
    media = {
        "type": "media",
        "attrs": {"type": "file", "id": "f-123", "collection": "", "alt": "photo.png"},
    }
    single = {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [media]}
    assert document["content"][:3] == [
        {"type": "paragraph", "content": [{"type": "text", "text": "before"}]},
        single,
        {"type": "paragraph", "content": [{"type": "text", "text": "after"}]},
    ]
    assert document["content"][3]["content"][0]["content"] == [single]  # first in a list item
    assert texts(document["content"][4]) == ["[image: photo.png]"]  # no block inside a heading


def test_html_to_adf_remote_image_linked_not_embedded() -> None:
    html = (
        '<p><img src="https://cdn.example/logo.png" alt="ACME"> '
        '<a href="https://acme.example"><img src="https://cdn.example/b.png"></a></p>'
    )

    document = html_to_adf(html)

    assert_valid_adf(document)
    assert nodes(document, "media") == [] and nodes(document, "mediaSingle") == []
    logo, banner = nodes(document, "text")[0], nodes(document, "text")[-1]
    assert logo["text"] == "[image: ACME]"
    assert logo["marks"] == [
        {"type": "link", "attrs": {"href": "https://cdn.example/logo.png"}},
        {"type": "em"},
    ]
    assert banner["marks"][0] == {"type": "link", "attrs": {"href": "https://acme.example"}}


def test_html_to_adf_tracking_pixel_left_out() -> None:
    document = html_to_adf('<p>Hi<img src="https://t.example/p.gif" width="1" height="1"></p>')

    assert texts(document) == ["Hi"]


# --- html_to_adf: robustness -------------------------------------------------------------


@pytest.mark.parametrize(
    "html", ["", "   ", "<p></p>", "<p>&nbsp;</p><div><br></div>", "<!-- c -->"]
)
def test_html_to_adf_empty_body_gives_empty_document(html: str) -> None:
    assert html_to_adf(html) == {"type": "doc", "version": 1, "content": []}


def test_html_to_adf_very_deep_nesting_keeps_text_and_validates() -> None:
    html = "<div><font><b>" * 3000 + "deep" + "</b></font></div>" * 3000 + "<p>after</p>"

    document = html_to_adf(html)

    assert_valid_adf(document)
    assert paragraph_texts(document) == ["deep", "after"]


def test_html_to_adf_unclosed_tags_on_every_line_keep_all_lines() -> None:
    html = "".join(f"<font color=red>line {n}<br>" for n in range(3000))

    document = html_to_adf(html)

    assert "".join(texts(document)).count("line ") == 3000


def _random_html(rng: random.Random, depth: int = 0) -> str:
    tags = [
        "p",
        "div",
        "span",
        "b",
        "i",
        "u",
        "s",
        "code",
        "pre",
        "h1",
        "h3",
        "h6",
        "ul",
        "ol",
        "li",
        "blockquote",
        "table",
        "tr",
        "td",
        "th",
        "thead",
        "tbody",
        "a",
        "font",
        "center",
        "sub",
        "sup",
        "dl",
        "dd",
        "section",
        "caption",
    ]
    words = [
        "word",
        " ",
        "  ",
        "\n",
        "&nbsp;",
        "&amp;",
        "<",
        "\x00",
        "\x0b",
        "é",
        "😀",
        "\t",
        "x" * 30,
        "https://e.example/x",
        "a@b.example",
        "&#0;",
        "&lt;script&gt;",
        "]]>",
        "",
    ]
    parts: list[str] = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.35 or depth > 3:
            parts.append("".join(rng.choice(words) for _ in range(rng.randint(0, 4))))
        elif roll < 0.45:
            parts.append(
                rng.choice(
                    [
                        "<br>",
                        "<hr>",
                        '<img src="cid:a@b">',
                        '<img src="cid:c@d" alt="c">',
                        '<img src="https://e.example/i.png">',
                        "<img src=x onerror=alert(1)>",
                        '<a href="javascript:x">j</a>',
                        "</td>",
                        "</li>",
                        "<li>",
                        "<tr>",
                        "</p>",
                        '<p class="MsoNormal">&nbsp;</p>',
                        '<div style="display:none">h</div>',
                    ]
                )
            )
        else:
            tag = rng.choice(tags)
            attrs = rng.choice(
                ["", ' href="https://e.example"', ' colspan="3"', ' rowspan="0"', ' start="5"']
            )
            inner = _random_html(rng, depth + 1)
            closing = f"</{tag}>" if rng.random() < 0.85 else ""
            parts.append(f"<{tag}{attrs}>{inner}{closing}")
    return "".join(parts)


def test_html_to_adf_random_html_always_validates() -> None:
    rng = random.Random(20240607)
    images = {"a@b": "a.png", "c@d": "c.png"}
    count = 0
    for _ in range(300):
        html = _random_html(rng)
        media_ids = {"a.png": "media-a"} if rng.random() < 0.5 else None
        document = html_to_adf(html, inline_images=images, media_ids=media_ids)
        assert_valid_adf(document)
        assert _empty_text_absent(document)
        fitted = fit_to_limit(document, max_chars=400)
        assert_valid_adf(fitted.document)
        assert serialized_length(fitted.document) <= 400
        adf_to_html(document)
        count += 1
    assert count == 300


def _html_parts(message: EmailMessage) -> Iterator[tuple[str, dict[str, str]]]:
    images: dict[str, str] = {}
    for part in message.walk():
        content_id = part.get("Content-ID")
        if content_id and not part.is_multipart():
            images[str(content_id)] = part.get_filename() or f"inline-{len(images)}"
    for part in message.walk():
        if part.get_content_type() == "text/html":
            try:
                content = part.get_content()
            except (LookupError, ValueError, AssertionError):
                continue
            if isinstance(content, str):
                yield content, images


def test_html_to_adf_zammad_corpus_html_parts_all_validate() -> None:
    folder = shared_path("corpora", "zammad_mail")
    count = with_images = 0
    for path in sorted(folder.glob("*.box")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        for html, images in _html_parts(message):
            media_ids = {name: f"media-{n}" for n, name in enumerate(images.values()) if n % 2}
            document = html_to_adf(html, inline_images=images, media_ids=media_ids)
            assert_valid_adf(document)
            assert _empty_text_absent(document)
            count += 1
            with_images += bool(nodes(document, "mediaSingle")) or "[image: " in json.dumps(
                document
            )
    print(f"zammad_mail: {count} HTML parts converted, all valid; {with_images} with images")
    assert count >= 50


def test_html_to_adf_talon_html_replies_all_validate() -> None:
    folder = shared_path("corpora", "talon", "fixtures", "html_replies")
    paths = sorted(folder.glob("*.html"))
    for path in paths:
        assert_valid_adf(html_to_adf(path.read_text(encoding="utf-8", errors="replace")))
    print(f"talon html_replies: {len(paths)} files converted, all valid")
    assert len(paths) >= 5


# --- fit_to_limit ------------------------------------------------------------------------


def _long_document(paragraphs: int = 300) -> Node:
    return text_to_adf(
        "\n\n".join(f"Paragraph {n}: " + "lorem ipsum " * 20 for n in range(paragraphs))
    )


def test_fit_to_limit_small_document_unchanged() -> None:
    document = text_to_adf("short")

    fitted = fit_to_limit(document)

    assert fitted.document is document
    assert fitted.truncated is False and fitted.full_text is None


def test_fit_to_limit_cuts_at_block_boundary_and_adds_note() -> None:
    document = _long_document()
    assert serialized_length(document) > JIRA_TEXT_LIMIT

    fitted = fit_to_limit(document, filename="message-ABC.txt")

    assert_valid_adf(fitted.document)
    assert fitted.truncated is True
    assert serialized_length(fitted.document) <= JIRA_TEXT_LIMIT
    *kept, note = fitted.document["content"]
    assert kept == document["content"][: len(kept)]  # whole blocks, in order
    assert len(kept) > 100
    assert note == {
        "type": "paragraph",
        "content": [
            {
                "type": "text",
                "text": "The message was too long for Jira; the full text is attached as "
                "message-ABC.txt.",
                "marks": [{"type": "em"}],
            }
        ],
    }
    assert fitted.full_text == adf_to_text(document)
    assert fitted.full_text is not None and "Paragraph 299:" in fitted.full_text


def test_fit_to_limit_single_huge_paragraph_keeps_its_beginning() -> None:
    document = text_to_adf("\n".join(f"log line {n} " + "x" * 50 for n in range(2000)))

    fitted = fit_to_limit(document, max_chars=5000)

    assert_valid_adf(fitted.document)
    assert serialized_length(fitted.document) <= 5000
    first = fitted.document["content"][0]
    assert first["content"][0]["text"].startswith("log line 0 ")
    assert first["content"][-1]["type"] == "text"
    assert len(fitted.document["content"]) == 2


def test_fit_to_limit_single_huge_word_cut_inside_text() -> None:
    document = text_to_adf("y" * 10_000)

    fitted = fit_to_limit(document, max_chars=2000)

    assert_valid_adf(fitted.document)
    kept = fitted.document["content"][0]["content"][0]["text"]
    assert 1500 < len(kept) < 2000 and set(kept) == {"y"}


def test_fit_to_limit_code_block_cut_at_line() -> None:
    document = html_to_adf("<pre>" + "\n".join(f"line {n}" for n in range(2000)) + "</pre>")

    fitted = fit_to_limit(document, max_chars=3000)

    assert_valid_adf(fitted.document)
    code = fitted.document["content"][0]
    assert code["type"] == "codeBlock"
    assert code["content"][0]["text"].split("\n")[-1].startswith("line ")
    assert serialized_length(fitted.document) <= 3000


def test_fit_to_limit_counts_utf16_units_for_astral_characters() -> None:
    document = text_to_adf("😀" * 600)  # 600 characters, 1200 UTF-16 code units

    assert serialized_length(document) > 1200
    assert fit_to_limit(document, max_chars=1100).truncated is True


def test_serialized_length_counts_the_json_in_utf16_units_not_its_escapes() -> None:
    # Jira counts the serialized document (issue 19): "é" is one unit, not the six of "\\u00e9";
    # a character outside the BMP is two; JSON's own escapes ("\\n", "\\"") count as written.
    base = serialized_length(text_to_adf("x"))

    assert serialized_length(text_to_adf("é")) == base
    assert serialized_length(text_to_adf("中文")) == base + 1
    assert serialized_length(text_to_adf("😀")) == base + 1
    assert serialized_length(text_to_adf('"')) == base + 1


def test_fit_to_limit_limit_too_small_for_note_raises() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        fit_to_limit(_long_document(3), max_chars=50)


# --- adf_to_text and adf_to_html ---------------------------------------------------------


def test_adf_to_text_reads_back_plain_text_constructs() -> None:
    text = "Hello https://e.example\nsecond line\n\n- a\n  - a.1\n- b\n\n3. c\n\n> quoted"

    assert adf_to_text(text_to_adf(text)) == text


def test_adf_to_text_links_named_after_their_text_and_tables_as_rows() -> None:
    html = (
        '<p><a href="https://e.example">the site</a></p>'
        "<table><tr><td>a</td><td>b</td></tr></table>"
    )

    assert adf_to_text(html_to_adf(html)) == "the site (https://e.example)\n\na | b"


def test_adf_to_text_unknown_inline_nodes_read_by_their_text() -> None:
    document = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "mention", "attrs": {"id": "1", "text": "@Ann"}},
                    {"type": "text", "text": " "},
                    {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
                ],
            }
        ],
    }

    assert adf_to_text(document) == "@Ann 😄"


def test_adf_to_html_escapes_text_and_drops_unsafe_links() -> None:
    document = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "<script>x</script> & co"},
                    {
                        "type": "text",
                        "text": "bad",
                        "marks": [
                            {"type": "link", "attrs": {"href": "javascript:x"}},
                        ],
                    },
                    {
                        "type": "text",
                        "text": "good",
                        "marks": [
                            {"type": "link", "attrs": {"href": 'https://e.example/?a="1"'}},
                            {"type": "strong"},
                        ],
                    },
                ],
            }
        ],
    }

    html = adf_to_html(document)

    assert html == (
        "<p>&lt;script&gt;x&lt;/script&gt; &amp; co"
        'bad<a href="https://e.example/?a=&quot;1&quot;"><strong>good</strong></a></p>'
    )


def test_adf_to_html_renders_structure() -> None:
    html = (
        "<h2>T</h2><ol start='4'><li>x</li></ol><blockquote>q</blockquote><pre>a&lt;b</pre>"
        "<table><tr><th colspan='2'>h</th></tr><tr><td>1</td><td>2</td></tr></table>"
    )

    rendered = adf_to_html(html_to_adf(html))

    assert rendered == (
        '<h2>T</h2><ol start="4"><li><p>x</p></li></ol><blockquote><p>q</p></blockquote>'
        '<pre><code>a&lt;b</code></pre><table><tr><th colspan="2"><p>h</p></th></tr>'
        "<tr><td><p>1</p></td><td><p>2</p></td></tr></table>"
    )
