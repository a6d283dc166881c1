"""Reply extraction scored on the shared corpora: floors asserted, figures printed (`-s`).

How results are compared, so the figures mean what they say:
- Text is whitespace-normalised on both sides: every run of whitespace (spaces, tabs, line
  breaks) becomes one space, and the ends are stripped. The corpora's expectations come from
  implementations that differ in trailing spaces and blank lines, not in content.
- HTML is compared by visible text: the text of the document with <head>, <script> and
  <style> dropped and block elements and <br> as line breaks, then whitespace-normalised as
  above, for our HTML and for the expected HTML (or expected text) alike. talon itself
  compares its HTML cases with all whitespace removed.

The expectations are other libraries' opinions. Where ours differs on purpose, the case is
listed in DEBATABLE with the reason and counted apart in the printed figures; the code never
knows these names.
"""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import lxml.html
from lxml import etree

from connector.mail.reply import extract_reply_html, extract_reply_text
from tests.shared import shared_path

DEBATABLE = {
    # reply_parser
    "crisp_js/email_1.txt": (
        "expects the '-Abhishek Kona' sign-off kept; the Ruby original and the PHP port hide the "
        "same line of the same mail (github_ruby/email_1_1.txt, willdurand_php/email_1.txt), "
        "as we do"
    ),
    # talon, HTML quotations
    "test_gmail_quote_blockquote#1": (
        "blockquote.gmail_quote is the container Gmail writes quoted history into; talon keeps "
        "it only because no 'wrote:' line precedes it"
    ),
    "test_blockquote_disclaimer#1": (
        "a bare <blockquote> with the sender's text after it may be the sender's own quotation; "
        "we keep it rather than risk deleting what they wrote"
    ),
    # talon, file fixtures
    "fixtures/standard_replies/iphone.eml": (
        "we remove the 'Sent from my iPhone' signature by design; talon's extract_from_plain "
        "removes quotations only"
    ),
    "fixtures/standard_replies/sparrow.eml": (
        "we remove the '-- ' signature by design; talon's extract_from_plain removes "
        "quotations only"
    ),
    "fixtures/reply-separated-by-hr.html": (
        "keeps 'Bob', the sender's sign-off above the <hr>; talon drops it because it shares a "
        "block with the rule"
    ),
}

# Floors: what the implementation achieves today (all above the goals set for it).
REPLY_PARSER_FLOOR = 104  # of 105; goal 95
TALON_PLAIN_FLOOR = 52  # of 52; goal 47
TALON_HTML_FLOOR = 17  # of 19; goal 15
TALON_FILES_FLOOR = 20  # of 23

_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "body", "caption", "center", "dd"),
        *("div", "dl", "dt", "fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4"),
        *("h5", "h6", "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre"),
        *("section", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"),
    }
)
_INVISIBLE_TAGS = frozenset({"head", "script", "style", "title"})


def normalise(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def visible_text(html: str) -> str:
    """What a reader sees of `html`, whitespace-normalised (see the module docstring)."""
    source = html.strip()
    if source.startswith("<?xml"):
        source = source[source.index("?>") + 2 :]
    if not source.strip():
        return ""
    root = lxml.html.document_fromstring(source)
    parts: list[str] = []
    walker = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    for event, element in walker:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _INVISIBLE_TAGS:
                walker.skip_subtree()
                continue
            if tag in _BLOCK_TAGS or tag == "br":
                parts.append("\n")
            parts.append(element.text or "")
            continue
        if tag in _BLOCK_TAGS:
            parts.append("\n")
        parts.append(element.tail or "")  # after an element, a comment or an instruction
    return normalise("".join(parts))


@dataclass
class Score:
    name: str
    matched: int = 0
    total: int = 0
    debatable: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, case: str, ours: str, expected: str) -> None:
        self.total += 1
        if ours == expected:
            self.matched += 1
        elif case in DEBATABLE:
            self.debatable.append(case)
        else:
            self.misses.append(
                f"{case}\n    ours:     {ours[:200]!r}\n    expected: {expected[:200]!r}"
            )

    def report(self) -> str:
        percent = 100 * self.matched / self.total if self.total else 0.0
        lines = [f"{self.name} {self.matched}/{self.total} ({percent:.1f}%)"]
        if self.debatable:
            with_ours = self.matched + len(self.debatable)
            lines[0] += (
                f"; {len(self.debatable)} more where ours differs on purpose "
                f"({with_ours}/{self.total} counting them)"
            )
            lines += [f"  debatable {case}: {DEBATABLE[case]}" for case in self.debatable]
        lines += [f"  miss {miss}" for miss in self.misses]
        lines += [f"  skipped {case}" for case in self.skipped]
        return "\n".join(lines)


def _load(folder: str) -> tuple[Path, dict[str, Any]]:
    base = shared_path("corpora", folder)
    expectations: dict[str, Any] = json.loads((base / "expected.json").read_text("utf-8"))
    return base, expectations


def _read_text(path: Path) -> str:
    # The corpora hold CRLF, CR and invalid UTF-8: read bytes, decode leniently.
    return path.read_bytes().decode("utf-8", errors="replace")


def _reply_parser_cases(expectations: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(fixture, expected visible text) for every case with a visible-text expectation."""
    for fixture, entry in expectations.items():
        if fixture.startswith("_") or not isinstance(entry, dict):
            continue
        for key in ("visible_text", "visible_text_stripped", "visible_text_derived"):
            if key in entry:
                yield fixture, entry[key]
                break


def test_reply_parser_corpus_visible_text_meets_floor() -> None:
    base, expectations = _load("reply_parser")
    score = Score("reply_parser visible text")
    for fixture, expected in _reply_parser_cases(expectations):
        ours = extract_reply_text(_read_text(base / fixture)).text
        score.add(fixture, normalise(ours), normalise(expected))

    print(score.report())
    assert score.total == 105
    assert score.matched >= REPLY_PARSER_FLOOR, score.report()


def test_talon_plain_quotations_meet_floor() -> None:
    _, expectations = _load("talon")
    score = Score("talon plain quotations")
    for case in expectations["quotations_plain"]:
        if case.get("requires_config"):
            score.skipped.append(f"{case['id']}: {case['requires_config']}")
            continue
        ours = extract_reply_text(case["input"]).text
        score.add(case["id"], normalise(ours), normalise(case["expected"]))

    print(score.report())
    assert score.total == 52
    assert score.matched >= TALON_PLAIN_FLOOR, score.report()


def test_talon_html_quotations_meet_floor() -> None:
    _, expectations = _load("talon")
    score = Score("talon HTML quotations (visible text)")
    for case in expectations["quotations_html"]:
        ours = extract_reply_html(case["input"]).html
        score.add(case["id"], visible_text(ours), visible_text(case["expected"]))

    print(score.report())
    assert score.total == 19
    assert score.matched >= TALON_HTML_FLOOR, score.report()


def _first_plain_part(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    for part in message.walk():
        if part.get_content_type() == "text/plain" and isinstance(part, EmailMessage):
            content = part.get_content()
            assert isinstance(content, str)
            return content
    raise AssertionError("no text/plain part")


def test_talon_file_fixtures_meet_floor() -> None:
    base, expectations = _load("talon")
    score = Score("talon file fixtures (standard replies, HTML replies)")
    for case in expectations["file_fixtures"]:
        fixture, function, expected = case["fixture"], case["function"], case.get("expected")
        path = base / fixture
        if function == "extract_from_plain" and expected is not None:
            ours = extract_reply_text(_first_plain_part(path.read_bytes())).text
            score.add(fixture, normalise(ours), normalise(expected))
        elif function.startswith("extract_from_html") and expected is not None:
            ours = extract_reply_html(_read_text(path)).html
            wanted = visible_text(expected) if expected.startswith("<") else normalise(expected)
            score.add(fixture, visible_text(ours), wanted)
        # The rest test talon's signature model or run on a whole raw MIME file.

    print(score.report())
    assert score.total == 23
    assert score.matched >= TALON_FILES_FLOOR, score.report()


def _bodies(raw: bytes) -> Iterator[tuple[str, str]]:
    """(content type, text) of each text part the standard library can decode."""
    message = email.message_from_bytes(raw, policy=policy.default)
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type not in ("text/plain", "text/html") or not isinstance(part, EmailMessage):
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError, AssertionError):
            continue  # an undecodable part is the MIME parser's problem, not ours
        if isinstance(content, str):
            yield content_type, content


def test_real_and_malformed_mail_extracts_without_error() -> None:
    # Every text part of Zammad's real messages and of the malformed corpus, plus each raw
    # file read as text: extraction raises nothing on real and hostile input.
    paths = sorted(shared_path("corpora", "zammad_mail").glob("*.box"))
    paths += sorted(p for p in shared_path("corpora", "malformed").rglob("*") if p.is_file())
    paths = [p for p in paths if p.suffix not in (".json", ".md", ".yml")]
    bodies = 0
    for path in paths:
        raw = path.read_bytes()
        for content_type, body in [*_bodies(raw), ("text/plain", _read_text(path))]:
            if content_type == "text/html":
                extract_reply_html(body)
            else:
                extract_reply_text(body)
                extract_reply_html(body)
            bodies += 1

    print(f"extracted {bodies} bodies from {len(paths)} real and malformed messages")
    assert len(paths) > 150
