"""Jira wiki markup from the ADF document model (connector/jira/wiki.py, wiki_escape.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from connector.jira.adf import html_to_adf, text_to_adf
from connector.jira.wiki import CUT_NOTE, adf_to_wiki
from connector.jira.wiki_escape import escape_text
from tests.wiki_tokens import leaked_markup, markup, visible_text

Node = dict[str, Any]

HOSTILE = [
    "{code}rm -rf /{code}",
    "{noformat}x{noformat}",
    "[click here|http://evil.example/]",
    "[~admin] and [^secret.pdf]",
    "*bold* _italic_ -strike- +under+ ^sup^ ~sub~ ??cite??",
    "{color:red}alarm{color}",
    "!http://tracker.example/pixel.png!",
    "!image.png|thumbnail!",
    "|a|b|",
    "||head||head||",
    "h1. Heading",
    "  h3. indented heading",
    "bq. quoted",
    "----",
    "* list item",
    "# numbered item",
    "- dash item",
    "-- dashes --- here",
    "{{monospace}}",
    "{panel:title=x}body{panel}",
    "\\\\ forced break \\ and a C:\\path\\*file*",
    "&#123;code&#125; &copy; &amp;",
    "{quote}fake quote{quote}",
    "*[link|http://x]*",
    "a *b* c _d_ e",
    "**double** __double__",
]


def paragraph_doc(text: str) -> Node:
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": text}]}]}  # fmt: skip


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_builds_no_markup_and_reads_as_written(text: str) -> None:
    wiki = adf_to_wiki(paragraph_doc(text))
    assert markup(wiki) == Counter(), wiki
    assert visible_text(wiki) == text.strip()  # a paragraph starts at its first letter


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_every_container_stays_text(text: str) -> None:
    cell: Node = {"type": "tableCell", "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": text}]}]}  # fmt: skip
    item = {"type": "listItem", "content": cell["content"]}
    document = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": cell["content"][0]["content"]},
            {"type": "blockquote", "content": cell["content"]},
            {"type": "bulletList", "content": [item]},
            {"type": "table", "content": [{"type": "tableRow", "content": [cell]}]},
            {"type": "paragraph", "content": [
                {"type": "text", "text": text, "marks": [{"type": "strong"}]},
                {"type": "text", "text": text,
                 "marks": [{"type": "link", "attrs": {"href": "https://example.com/"}}]},
            ]},
        ],
    }  # fmt: skip
    wiki = adf_to_wiki(document)
    assert leaked_markup(wiki, document) == Counter(), wiki


def test_the_reader_sees_markup_that_is_not_escaped() -> None:
    # The check above means something only if unescaped markup is found.
    found = markup("h1. x\n*bold* [a|http://x] {code}y{code} !i.png!\n|a|b|\n# n\n----")
    assert found == Counter(heading=1, strong=1, link=1, macro=2, image=1, table=1, list=1, rule=1)


def test_ordinary_punctuation_is_left_alone() -> None:
    text = "foo-bar snake_case C and a - b, 3+4=7 x^y ok? yes. a~b"
    assert escape_text(text) == text


def test_backslashes_and_references_read_as_written() -> None:
    assert escape_text("C:\\temp") == "C:&#92;temp"
    assert escape_text("&copy; & more") == "&amp;copy; & more"


def test_paragraphs_and_line_breaks() -> None:
    wiki = adf_to_wiki(text_to_adf("first line\nsecond line\n\nnext paragraph"))
    assert wiki == "first line\nsecond line\n\nnext paragraph"


def test_a_line_that_looks_like_markup_after_a_break_is_escaped() -> None:
    wiki = adf_to_wiki(text_to_adf("intro\nh1. not a heading\n# not a list"))
    assert wiki == "intro\n&#104;1. not a heading\n\\# not a list"


def test_marks() -> None:
    html = (
        "<p><b>b</b> <i>i</i> <s>s</s> <u>u</u> <sup>p</sup> <sub>d</sub> <code>c</code> "
        "<b><i>both</i></b></p>"
    )
    assert adf_to_wiki(html_to_adf(html)) == "*b* _i_ -s- +u+ ^p^ ~d~ {{c}} *_both_*"


def test_white_space_at_a_marked_run_edge_goes_outside() -> None:
    document = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "a"},
        {"type": "text", "text": " bold ", "marks": [{"type": "strong"}]},
        {"type": "text", "text": "b"}]}]}  # fmt: skip
    assert adf_to_wiki(document) == "a *bold* b"


def test_links_keep_their_target_and_cannot_be_broken_out_of() -> None:
    html = '<a href="https://example.com/a?b=[1]|c d">see [here]|now</a>'
    wiki = adf_to_wiki(html_to_adf(html))
    assert wiki == "[see \\[here\\]\\|now|https://example.com/a?b=%5B1%5D%7Cc%20d]"
    assert adf_to_wiki(text_to_adf("mail me: a@example.org")) == (
        "mail me: [a@example.org|mailto:a@example.org]"
    )


def test_javascript_links_are_not_links() -> None:
    document = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "x",
         "marks": [{"type": "link", "attrs": {"href": "javascript:alert(1)"}}]}]}]}  # fmt: skip
    assert adf_to_wiki(document) == "x"


def test_quotes_and_nested_quotes() -> None:
    wiki = adf_to_wiki(text_to_adf("> quoted\n> > deeper"))
    assert wiki == "{quote}\nquoted\ndeeper\n{quote}"
    inner = {"type": "blockquote", "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "in"}]}]}  # fmt: skip
    document = {"type": "doc", "version": 1, "content": [{"type": "blockquote", "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "out"}]}, inner]}]}  # fmt: skip
    assert adf_to_wiki(document) == "{quote}\nout\n\nin\n{quote}"


def test_lists_nest() -> None:
    wiki = adf_to_wiki(text_to_adf("- a\n  - b\n    1. c\n- d\n\n1. one\n2. two"))
    assert wiki == "* a\n** b\n**# c\n* d\n\n# one\n# two"


def test_list_item_with_several_paragraphs_uses_forced_breaks() -> None:
    wiki = adf_to_wiki(html_to_adf("<ul><li><p>one</p><p>two</p></li></ul>"))
    assert wiki == "* one \\\\ two"


def test_code_blocks_are_literal_and_cannot_be_closed_from_inside() -> None:
    assert adf_to_wiki(html_to_adf("<pre>a *b* [c]</pre>")) == "{noformat}\na *b* [c]\n{noformat}"
    closing = adf_to_wiki(html_to_adf("<pre>x {noformat} *y*</pre>"))
    assert closing == "{code}\nx {noformat} *y*\n{code}"
    both = html_to_adf("<pre>{code} {noformat} *y*</pre>")
    wiki = adf_to_wiki(both)
    assert wiki == "{{\\{code\\} \\{noformat\\} \\*y\\*}}"
    assert leaked_markup(wiki, both) == Counter()


def test_tables() -> None:
    html = (
        "<table><tr><th>Name</th><th>Value</th></tr>"
        "<tr><td>a|b</td><td>one<br>two</td></tr><tr><td colspan=2>wide</td></tr></table>"
    )
    wiki = adf_to_wiki(html_to_adf(html))
    assert wiki == "||Name||Value||\n|a\\|b|one \\\\ two|\n|wide| |"


def test_headings_and_rules() -> None:
    wiki = adf_to_wiki(html_to_adf("<h2>Title [x]</h2><p>a</p><hr><p>b</p>"))
    assert wiki == "h2. Title \\[x\\]\n\na\n\n----\n\nb"


def test_mentions_by_user_name() -> None:
    document: Node = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "mention", "attrs": {"id": "jsmith", "text": "@John Smith"}},
        {"type": "text", "text": " wrote by email:"}]}]}  # fmt: skip
    assert adf_to_wiki(document) == "[~jsmith] wrote by email:"
    document["content"][0]["content"][0]["attrs"]["id"] = "evil]|[x"
    assert adf_to_wiki(document) == "@John Smith wrote by email:"


def test_inline_images_and_attachments_by_filename() -> None:
    html = '<p>see <img src="cid:logo"></p>'
    named = html_to_adf(html, inline_images={"logo": "logo.png"}, media_ids={"logo.png": "x"})
    assert adf_to_wiki(named) == "see\n\n!logo.png!"
    unsafe = html_to_adf(html, inline_images={"logo": "a!b.png"}, media_ids={"a!b.png": "x"})
    wiki = adf_to_wiki(unsafe)
    assert wiki == "see\n\n_\\[image: a\\!b.png\\]_"
    group = {"type": "doc", "version": 1, "content": [{"type": "mediaGroup", "content": [
        {"type": "media", "attrs": {"type": "file", "id": "1", "collection": "",
                                     "alt": "report.pdf"}}]}]}  # fmt: skip
    assert adf_to_wiki(group) == "[^report.pdf]"


def test_image_without_upload_is_the_placeholder_text() -> None:
    wiki = adf_to_wiki(html_to_adf('<p><img src="cid:x"></p>', inline_images={"x": "p.png"}))
    assert wiki == "_\\[image: p.png\\]_"


def test_markup_longer_than_the_field_is_cut_at_a_block_and_says_so() -> None:
    document = text_to_adf("\n\n".join(["|" * 900] * 30))  # fits as ADF, doubles when escaped
    wiki = adf_to_wiki(document, max_chars=32_767)
    assert len(wiki) <= 32_767
    assert wiki.endswith(CUT_NOTE)
    assert wiki.count("\\|" * 900) == len(wiki) // 1802
    assert leaked_markup(wiki, document) == Counter(em=1)  # the note, in italics
    assert adf_to_wiki(document) == "\n\n".join(["\\|" * 900] * 30)


def test_one_block_longer_than_the_field_keeps_its_escaped_beginning() -> None:
    document = text_to_adf("{" * 40_000)
    wiki = adf_to_wiki(document, max_chars=32_767)
    assert len(wiki) <= 32_767
    head = wiki.removesuffix("\n\n" + CUT_NOTE)
    assert head and set(visible_text(head)) == {"{"}
    assert markup(head) == Counter()


def test_hostile_html_mail_through_understanding_stays_text() -> None:
    from connector.pipeline.understanding import understand

    hostile = "{code}x{code} [a|http://e.example] *b* !i.png! |c| {color:red}d{color}"
    html = (
        f"<h1>{hostile}</h1><p>{hostile}<br>h1. {hostile}</p>"
        f'<p><a href="https://ok.example/a]b|c">{hostile}</a> <img src="cid:p" alt="{hostile}">'
        f'<img src="https://t.example/x.png" alt="{hostile}"></p>'
        f"<ul><li>{hostile}<ol><li><code>{hostile}</code></li></ol></li></ul>"
        f"<table><tr><th>{hostile}</th><td>{hostile}</td></tr></table>"
        f"<blockquote>{hostile}<blockquote>{hostile}</blockquote></blockquote>"
        f"<pre>{hostile} {{noformat}} {{code}}</pre><hr>"
    )
    raw = (
        "From: m@example.org\nTo: s@example.com\nSubject: x\nMIME-Version: 1.0\n"
        f"Content-Type: text/html; charset=utf-8\n\n{html}\n"
    ).encode()
    document = understand(raw).description.document
    wiki = adf_to_wiki(document)
    assert leaked_markup(wiki, document) == Counter(), wiki
    assert wiki.count("[a|http") == 0
