"""Sanitising email HTML and reading it as text (connector/mail/html.py)."""

from __future__ import annotations

import random
import re

import pytest

from connector.mail.html import sanitize_html, says_nothing
from connector.mail.html_text import html_to_text
from tests.unit.test_seams import ImportGraph

# --- sanitize_html: what must go ---------------------------------------------------------


def test_sanitize_html_script_element_removed_with_its_content() -> None:
    cleaned = sanitize_html("<p>Hi</p><script>alert('x')</script><SCRIPT src=//e.vil></SCRIPT>")

    assert "script" not in cleaned.lower()
    assert "alert" not in cleaned
    assert cleaned == "<p>Hi</p>"


def test_sanitize_html_style_title_and_head_content_removed() -> None:
    html = (
        "<html><head><title>Subject line</title><style>p{color:red}</style></head>"
        "<body><p>Body</p></body></html>"
    )

    cleaned = sanitize_html(html)

    assert cleaned == "<p>Body</p>"


@pytest.mark.parametrize(
    "html",
    [
        '<img src="cid:a" onerror="alert(1)">',
        '<p onclick="steal()">x</p>',
        '<a href="https://ok.example" onmouseover="steal()">x</a>',
        '<body onload="steal()">x</body>',
    ],
)
def test_sanitize_html_event_handler_attributes_removed(html: str) -> None:
    cleaned = sanitize_html(html)

    assert " on" not in cleaned
    assert "alert" not in cleaned and "steal" not in cleaned


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "jav&#x61;script:alert(1)",
        "java\tscript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "cid:part1",
        "file:///etc/passwd",
        "/relative/path",
    ],
)
def test_sanitize_html_unsafe_link_target_removed(href: str) -> None:
    cleaned = sanitize_html(f'<a href="{href}">click</a>')

    assert "href" not in cleaned
    assert "click" in cleaned


@pytest.mark.parametrize("href", ["https://example.com/a?b=1", "http://x.test/", "mailto:a@b.c"])
def test_sanitize_html_web_and_mail_links_kept(href: str) -> None:
    cleaned = sanitize_html(f'<a href="{href}" title="t">click</a>')

    assert f'href="{href.replace("&", "&amp;")}"' in cleaned
    assert 'title="t"' in cleaned


@pytest.mark.parametrize(
    ("src", "kept"),
    [
        ("cid:image001.png@01D0", True),
        ("https://cdn.example.com/logo.png", True),
        ("http://cdn.example.com/logo.png", True),
        ("data:image/png;base64,iVBORw0KGgo=", True),
        ("data:image/svg+xml;base64,PHN2Zz4=", False),
        ("data:text/html;base64,PHNjcmlwdD4=", False),
        ("javascript:alert(1)", False),
        ("logo.png", False),
    ],
)
def test_sanitize_html_image_source_kept_only_for_allowed_schemes(src: str, kept: bool) -> None:
    cleaned = sanitize_html(f'<img src="{src}" alt="a">')

    assert ("src=" in cleaned) is kept
    assert 'alt="a"' in cleaned


def test_sanitize_html_control_characters_removed_even_from_entities() -> None:
    assert sanitize_html("<p>a\x01b&#1;c&#x7f;d\x0be</p>") == "<p>abcde</p>"


def test_sanitize_html_comments_and_outlook_conditionals_removed() -> None:
    html = "<p>a<!-- hidden --></p><!--[if gte mso 9]><xml><o:x>1</o:x></xml><![endif]--><p>b</p>"

    assert sanitize_html(html) == "<p>a</p><p>b</p>"


@pytest.mark.parametrize(
    "html", ["<iframe src='https://e'>in</iframe>", "<object data='x'>in</object>", "<embed src=x>"]
)
def test_sanitize_html_embedded_content_removed(html: str) -> None:
    cleaned = sanitize_html(html + "<p>after</p>")

    assert cleaned == "<p>after</p>"


def test_sanitize_html_tracking_pixel_removed_by_default() -> None:
    html = '<p>Hi<img src="https://t.example/o.gif" width="1" height="1"></p>'

    assert sanitize_html(html) == "<p>Hi</p>"
    assert "<img" in sanitize_html(html, drop_tracking_pixels=False)


def test_sanitize_html_sized_image_kept() -> None:
    html = '<img src="https://e.example/logo.png" width="120px" height="1" alt="logo">'

    cleaned = sanitize_html(html)

    assert cleaned.startswith('<img src="https://e.example/logo.png" ')
    assert 'width="120"' in cleaned and 'height="1"' in cleaned and 'alt="logo"' in cleaned


def test_sanitize_html_style_survives_only_as_display_none() -> None:
    cleaned = sanitize_html(
        '<div style="display: none; color: red">pre</div><div style="color:red">x</div>'
    )

    assert cleaned == '<div style="display:none">pre</div><div>x</div>'


def test_sanitize_html_structure_kept_and_unknown_tags_unwrapped() -> None:
    html = (
        '<table role="presentation" class="x" id="y"><tr><td colspan="2">c</td></tr></table>'
        '<p class="MsoNormal other">o<o:p></o:p></p><font face="Arial">f</font><ol start="3">'
        "<li>i</li></ol><h2>h</h2><blockquote><pre>p</pre></blockquote>"
    )

    cleaned = sanitize_html(html)

    assert cleaned == (
        '<table role="presentation"><tbody><tr><td colspan="2">c</td></tr></tbody></table>'
        '<p class="MsoNormal">o</p>f<ol start="3"><li>i</li></ol><h2>h</h2>'
        "<blockquote><pre>p</pre></blockquote>"
    )


def test_sanitize_html_other_table_role_removed() -> None:
    assert sanitize_html('<table role="grid"><tr><td>c</td></tr></table>').startswith("<table>")


_ATTACKS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    '<a href="javascript:alert(1)">',
    '<a href="  JAVASCRIPT:alert(1)">',
    "<a href='vbscript:x'>",
    '<iframe src="javascript:alert(1)">',
    "<scr<script>ipt>alert(1)</script>",
    '<div style="background:url(javascript:alert(1))">',
    '<math><mi xlink:href="javascript:alert(1)">',
    "<!--<script>alert(1)</script>-->",
    '<form action="javascript:alert(1)"><button>',
    "<object data=javascript:alert(1)>",
    '<p title="a" onmouseover="x">',
    "</p>",
    "<table><tr><td>",
    "text &amp; more",
    "<meta http-equiv=refresh content=0;url=https://e>",
    '<base href="javascript:/">',
    '<link rel=stylesheet href="https://e/x.css">',
]
_DANGEROUS = re.compile(
    r"<script|<iframe|<object|<svg|<form|<meta|<base|<link|javascript:|vbscript:|\son\w+=", re.I
)


def test_sanitize_html_random_attack_mixtures_leave_nothing_executable() -> None:
    rng = random.Random(7)
    for _ in range(300):
        html = "".join(rng.choice(_ATTACKS) for _ in range(rng.randint(1, 8)))

        cleaned = sanitize_html(html)

        assert _DANGEROUS.search(cleaned) is None, (html, cleaned)


# --- html_to_text ------------------------------------------------------------------------


def test_html_to_text_paragraphs_separated_by_blank_line() -> None:
    assert html_to_text("<p>One\n  two</p><p>Three</p>") == "One two\n\nThree"


def test_html_to_text_div_lines_and_empty_div_as_blank_line() -> None:
    html = "<div>Hi</div><div><br></div><div>Line one</div><div>Line two<br></div>"

    assert html_to_text(html) == "Hi\n\nLine one\nLine two"


def test_html_to_text_outlook_msonormal_paragraphs_read_as_lines() -> None:
    html = (
        '<p class="MsoNormal">Hi John,<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
        '<p class="MsoNormal">Thanks<o:p></o:p></p><p class="MsoNormal">Ann<o:p></o:p></p>'
    )

    assert html_to_text(html) == "Hi John,\n\nThanks\nAnn"


def test_html_to_text_br_breaks_line_and_double_br_leaves_blank_line() -> None:
    assert html_to_text("a<br>b<br><br>c") == "a\nb\n\nc"


def test_html_to_text_lists_marked_and_nested_lists_indented() -> None:
    html = "<p>Steps:</p><ol start='3'><li>one</li><li>two<ul><li>sub</li></ul></li></ol><p>End</p>"

    assert html_to_text(html) == "Steps:\n\n3. one\n4. two\n   - sub\n\nEnd"


def test_html_to_text_link_shows_url_when_text_differs() -> None:
    html = (
        '<a href="https://e.example/x">the page</a>, <a href="https://e.example/y">'
        'https://e.example/y</a>, <a href="mailto:a@b.example">a@b.example</a>'
    )

    assert html_to_text(html) == (
        "the page (https://e.example/x), https://e.example/y, a@b.example"
    )


def test_html_to_text_unsafe_link_url_not_shown() -> None:
    assert html_to_text('<a href="javascript:alert(1)">click</a>') == "click"


def test_html_to_text_data_table_row_per_line() -> None:
    html = (
        "<table><tr><th>Name</th><th>Qty</th></tr><tr><td><p>Toner</p></td><td>2</td></tr></table>"
    )

    assert html_to_text("<p>Order:</p>" + html) == "Order:\n\nName | Qty\nToner | 2"


def test_html_to_text_layout_table_read_cell_by_cell() -> None:
    html = (
        "<table><tr><td><table><tr><td>Logo</td><td>ACME</td></tr></table></td></tr>"
        "<tr><td><p>Long newsletter paragraph.</p><p>Second.</p></td></tr></table>"
    )

    assert html_to_text(html) == "Logo | ACME\n\nLong newsletter paragraph.\n\nSecond."


def test_html_to_text_blockquote_prefixed() -> None:
    html = "<p>Reply</p><div>On Monday Ann wrote:</div><blockquote><p>q1</p><p>q2</p></blockquote>"

    assert html_to_text(html) == "Reply\n\nOn Monday Ann wrote:\n\n> q1\n>\n> q2"


def test_html_to_text_preformatted_text_kept_verbatim() -> None:
    assert html_to_text("<pre>  a  b\n\n c</pre>") == "  a  b\n\n c"


def test_html_to_text_hidden_script_and_style_content_absent() -> None:
    html = (
        '<style>.x{}</style><div style="display:none">preheader</div><script>var x;</script>'
        "<p>Visible</p>"
    )

    assert html_to_text(html) == "Visible"


def test_html_to_text_entities_decoded_and_nbsp_as_space() -> None:
    assert html_to_text("<p>Fish &amp; chips&nbsp;&nbsp;&lt;3 &eacute;</p>") == "Fish & chips  <3 é"


def test_html_to_text_images_read_by_alt() -> None:
    html = '<p>See <img src="cid:a" alt="screen shot"> and <img src="https://e/x.png"></p>'

    assert html_to_text(html) == "See [image: screen shot] and [image]"


@pytest.mark.parametrize("html", ["", "   ", "<p></p>", "<!-- only a comment -->"])
def test_html_to_text_empty_input_gives_empty_text(html: str) -> None:
    assert html_to_text(html) == ""


def test_html_to_text_very_deep_nesting_does_not_recurse_out() -> None:
    html = "<div><b>" * 3000 + "deep" + "</b></div>" * 3000

    assert html_to_text(html) == "deep"


def test_html_module_imports_no_io_libraries() -> None:
    assert ImportGraph.of_project().io_reached("connector.mail.html") == []


@pytest.mark.parametrize(
    "html",
    [
        "<html><body><br></body></html>",
        "<div><br></div>\n<p class=MsoNormal>&nbsp;</p>",
        "<html><head><title>Invoice</title><style>p{margin:0}</style></head>"
        "<body><table><tr><td><center><br><br></center></td></tr></table></body></html>",
        "<!--[if mso]><xml><o:shapedefaults/></xml><![endif]--><p>\u200b</p>",
    ],
)
def test_says_nothing_html_without_text_or_image(html: str) -> None:
    assert says_nothing(html)


@pytest.mark.parametrize(
    "html",
    [
        "<p>Hi</p>",
        '<img src="cid:chart@example.com" alt="">',
        "<table><tr><td>0</td></tr></table>",
        "&lt;",
    ],
)
def test_says_nothing_false_for_text_or_an_image(html: str) -> None:
    assert not says_nothing(html)
