"""Text from mail, written so that Jira's wiki renderer shows it as written and builds nothing.

Jira Data Center takes descriptions and comments as wiki markup (confluence.atlassian.com/
jiracoreserver/text-formatting-notation-...: "\\X  Escape special character X"). A customer's
`{code}`, `[link|...]`, `*bold*`, `{color:red}`, `!image.png!`, `|table|`, `h1.` or `----`
must stay text, so every construct the notation defines is defused here:

- Always escaped with a backslash: `{ } [ ] | !` (macros, links, mentions, attachments,
  tables, images), wherever they are: none can be part of text the renderer leaves alone.
- Phrase delimiters `* _ - + ^ ~` (bold, italic, strike, underline, super- and subscript):
  escaped where the renderer could read them as one, that is where the character could open
  (not after a letter or digit, before a non-space) or close (after a non-space, not before a
  letter or digit) a phrase. So "foo-bar", "snake_case", "C++" and "a - b" stay unescaped
  where nothing could form, while "*bold*", "-5", "__init__" and "----" are escaped. Only
  ASCII letters and digits count as word characters, and the edges of a piece of text count
  as both possible (a neighbour from another text node is unknown): when in doubt, escape.
- `??` (citation): each `?` next to another `?`.
- At the start of a line (after any indentation): list markers `#`, `*` and `-` are
  escaped; `h1.`..`h6.` and `bq.` get their first letter as a numeric character reference
  (`&#104;`), as a backslash before a letter is not an escape the notation defines.
- A backslash is written `&#92;`: two would be a forced line break, one before a special
  character an escape. The renderer keeps existing character references when it escapes
  HTML, so `&` is written `&amp;` only where the text would otherwise read as a reference
  (`&copy;`, `&#123;`); elsewhere it stays as it is.
- Control characters are dropped (they are not text Jira stores), CR/LF become spaces: the
  caller decides where lines break (`connector.jira.wiki`).

Not escaped either: a bare URL in text, which Jira links by itself as in anything typed into
it (the pipeline makes the URLs of plain-text mail links already), and emoticons (`:)`,
`(y)`, `(!)`), which the renderer shows as icons. Neither builds a macro or structure, and a
smiley shown as one is what the writer meant.
Pure: no IO.
"""

from __future__ import annotations

import re

PHRASE_DELIMITERS = frozenset("*_-+^~")
ALWAYS_ESCAPED = frozenset("{}[]|!")
_LINE_START_WORD = re.compile(r"(\s*)(h[1-6]\.|bq\.)", re.IGNORECASE)
_REFERENCE = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BREAKS = re.compile(r"\r\n|[\r\n]")


def _is_word(char: str | None) -> bool:
    """ASCII letters and digits only: anything else might let a phrase open or close."""
    return char is not None and char.isascii() and char.isalnum()


def _is_space(char: str | None) -> bool:
    return char is not None and char.isspace()


def _phrase_may_form(previous: str | None, following: str | None) -> bool:
    """Could a delimiter between these neighbours (None: unknown, at an edge) open or close?"""
    opens = not _is_word(previous) and not _is_space(following)
    closes = not _is_space(previous) and not _is_word(following)
    return opens or closes


def _needs_backslash(
    char: str, previous: str | None, following: str | None, *, line_start: bool
) -> bool:
    if (line_start and char in "#*-") or char in ALWAYS_ESCAPED:
        return True
    return char in PHRASE_DELIMITERS and _phrase_may_form(previous, following)


def escape_text(text: str, *, line_start: bool = False) -> str:
    """`text` as wiki markup that renders as exactly this text; `line_start`: it begins a line
    (so heading, quote and list markers must be defused too)."""
    text = _BREAKS.sub(" ", _CONTROL.sub("", text))
    out: list[str] = []
    if line_start:
        head = _LINE_START_WORD.match(text)
        if head:
            lead, word = head.group(1), head.group(2)
            out.append(f"{lead}&#{ord(word[0])};")
            text_from = len(lead) + 1
        else:
            text_from = 0
    else:
        text_from = 0
    at_line_start = line_start and text_from == 0
    for index in range(text_from, len(text)):
        char = text[index]
        previous = text[index - 1] if index > 0 else None
        following = text[index + 1] if index + 1 < len(text) else None
        if _needs_backslash(char, previous, following, line_start=at_line_start):
            out.append("\\" + char)
        elif char == "?" and "?" in (previous, following):
            out.append("\\?")
        elif char == "\\":
            out.append("&#92;")
        elif char == "&" and _REFERENCE.match(text, index):
            out.append("&amp;")
        else:
            out.append(char)
        if not char.isspace():
            at_line_start = False
    return "".join(out)


def escape_lines(text: str) -> str:
    """Several lines of text (each escaped as starting a line), joined by newlines."""
    return "\n".join(escape_text(line, line_start=True) for line in _BREAKS.split(text))
