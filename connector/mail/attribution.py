"""Attribution lines: "On <date>, <name> wrote:" and its translations, wrapped or not.

The line a mail client writes above the message being answered. It is recognised by an opening
word or a date, a verb of writing (or, for some clients, an address and a colon), and evidence
that it is not prose: a date, a time, a year or an address. `connector.mail.quotes` has the
other marks of quoted history; `connector.mail.reply_plan` decides what to remove.

Every pattern is precompiled and applied to a bounded slice, so hostile lines stay linear.
"""

# ruff: noqa: RUF001 - the patterns are multilingual: Cyrillic, full-width colons and the
# like are the characters clients write, not look-alike typos.
from __future__ import annotations

import re
from collections.abc import Sequence

# Longest text considered as one attribution or header line: real ones are under ~300 chars;
# capping keeps the regexes' work bounded on hostile input.
MAX_HEADER_CHARS = 600
# An attribution wrapped by the sender's client spans at most this many lines (Polymail-style
# "On ... John\n\n<\nmailto:...\n> wrote:" is the longest seen).
MAX_ATTRIBUTION_LINES = 5

# Starts only where a run of address characters starts: from inside a run the search would
# rescan the rest of it, quadratic on a long word (the run's start matches whenever they do).
EMAIL_RE = re.compile(r"(?<![\w.+'-])[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
# Not inside a longer run of digits and dots: an IP address (a bounce's "host 108.177.96.26
# said:") is neither a time nor a date.
_TIME_OR_DATE_RE = re.compile(
    r"(?<![\d.])(?:"
    r"\d{1,2}\s?[:.h]\s?\d{2}(?![.]?\d)"  # 14:41, 18.30, 10h30
    r"|\d{1,4}[./-]\s?\d{1,2}[./-]\s?\d{1,4}(?![.]?\d)"  # 26.06.2014, 2014-10-17, 04/19/2011
    r"|\d{4}\s?年"  # 2016年11月8日
    r")"
)

# Verbs that end (or sit inside) an attribution, in the languages mail clients ship.
_LATIN_VERBS = (
    r"wrote|sent|schrieb|geschrieben|a\s+écrit|écrit|escribió|escribio|ha\s+escrit|escreveu"
    r"|ha\s+scritto|scrisse|schreef|het\s+volgende\s+geschreven|geschreven|skrev|kirjoitti"
    r"|napisał\(a\)|napisała|napisał|pisze|napsal\(a\)|napsala|napsal|írta|yazdı|đã\s+viết"
    r"|a\s+scris|rašė|rakstīja|kirjutas|napisao|έγραψε|написал\(а\)|написала|написал"
    r"|написав|написа|пише"
)
_CJK_VERBS = r"写道|寫道|작성|のメッセージ|書きました"
_VERB = rf"(?:(?<![^\W\d_])(?:{_LATIN_VERBS})(?![^\W\d_])|{_CJK_VERBS})"
# "... wrote:", "... wrote", "---- John Smith wrote ----", "... a écrit :". Possessive: with
# plain `\s*` runs around the optional colon and dashes, the spaces after a verb could be split
# between three runs in cubically many ways before `$` failed (a verb and 1,000 spaces took
# over a second).
_VERB_END_RE = re.compile(rf"{_VERB}\s*+[:：]?\s*+-*+\s*+$")
# German, Dutch and Scandinavian put the verb before the name: "Am 25.06.2015 um 10:55 schrieb
# Test user <test@example.com>:". Only these verbs: "I sent it at 12:30 to <a@b.c>:" is prose.
_VERB_MID_RE = re.compile(
    r"(?<![^\W\d_])(?:schrieb|schreef|skrev)(?![^\W\d_]).{1,250}[:：]\s*$", re.DOTALL
)
_BRACKETED_ADDRESS_COLON_RE = re.compile(r"<\s*[^<>\s]+@[^<>\s]+\s*>\s*[:：]\s*$")
_YEAR_RE = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")

# Words that open an attribution: English "On", German "Am", French "Le", Spanish "El",
# Italian "Il"/"In data", Dutch "Op", Portuguese "Em", Scandinavian "Den"/"På", Polish
# "W dniu"/"Dnia", Czech "Dne", Slovak "Dňa", Vietnamese "Vào", Chinese "在", Greek "Στις".
_START_WORD_RE = re.compile(
    r"^\s*(?:-+\s*)?(?:On|Am|Le|El|Il|In\s+data|Op|Em|Den|På|W\s+dniu|Dnia|Dne|Dňa|Vào|Στις)"
    r"(?![^\W\d_])|^\s*在",
    re.IGNORECASE,
)
# Gmail and others in many languages start with the date: "2014-03-20 8:48 GMT+01:00 ...",
# "tir. 18. apr. 2017 kl. 13:09 skrev ...", "Thu, 26 Jun 2014 ... от ...:".
# Android's "---- John Smith wrote ----" opens with dashes.
_WEAK_START_RE = re.compile(
    r"^\s*(?:\d|-{2,}\s*[^\W\d_]|[^\W\d_]{1,12}\.?,?\s+(?:[^\W\d_]{1,12}\.?,?\s+)?\d)"
)
# "reply On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:": the reply and the attribution
# share a line (talon's corpus); only English with a weekday, month or digit after "On", after
# a space or punctuation. The dashes and spaces before "On" belong to the attribution: they are
# found by `_mid_line_start`, as a pattern starting with `-*\s*` would rescan a long run of
# spaces from each of them.
_MID_LINE_ON_RE = re.compile(
    r"(?<=[\s.,;!?)-])On\s++(?=(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr"
    r"|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)|\d)"
)
_MID_LINE_BOUNDARY = ".,;!?)-"
# Gmail in German, Dutch and Scandinavian languages puts the name first: "Anna <a@b.de> schrieb
# am Fr., 28." / "Apr. 2017 um 11:53 Uhr:" when wrapped. A short name, the address, the verb.
_NAME_ADDRESS_VERB_RE = re.compile(
    r"^\s*+[^<>@\n]{0,80}?<?[\w.+'-]++@[\w-]++(?:\.[\w-]++)+>?\s*+"
    r"(?:schrieb|schreef|skrev)(?![^\W\d_])"
)
_SENTENCE_END_RE = re.compile(r"[.!?;:：]\s*$")
# "... <a@b.de> schrieb am Fr., 28.": a day of the month, not a sentence's end, when the line
# names an address (prose ending "moved to floor 2." above an attribution keeps its line).
_DAY_END_RE = re.compile(r"(?<!\d)\d{1,2}\.\s*$")


def _start_strength(line: str) -> tuple[int, int] | None:
    """How strongly `line` looks like the first line of an attribution, and where it starts.

    2: an opening word ("On", "Am", "Le"...), 1: a date first. None: neither. The offset is
    non-zero only when the reply shares the line with an English "On <date> ... wrote:".
    """
    head = line[:MAX_HEADER_CHARS]
    if _START_WORD_RE.match(head):
        return 2, 0
    if _WEAK_START_RE.match(head):
        return 1, 0
    match = _MID_LINE_ON_RE.search(head)
    if match is not None:
        return 2, _mid_line_start(head, match.start())
    if _NAME_ADDRESS_VERB_RE.match(head):
        return 1, 0
    return None


def _mid_line_start(line: str, on: int) -> int:
    """Where an attribution whose "On" is at `on` starts: at the dashes and spaces before it,
    from the first of them that follows a space or punctuation."""
    start = on
    while start and line[start - 1].isspace():
        start -= 1
    while start and line[start - 1] == "-":
        start -= 1
    if start < on and not (start and _is_mid_line_boundary(line[start - 1])):
        start += 1  # after a letter, or at the line's start: from the run's second character
    return start


def _is_mid_line_boundary(char: str) -> bool:
    return char.isspace() or char in _MID_LINE_BOUNDARY


def _looks_like_attribution(text: str) -> bool:
    if len(text) > MAX_HEADER_CHARS:
        return False
    stripped = text.strip()
    # Real attributions carry a date, a time, a year or an address; "Le client 123 a écrit :"
    # or "Ticket 4711, the agent wrote:" in a message do not. Android's "---- John Smith
    # wrote ----" is the exception, recognisable by its dashes.
    if not (
        stripped.startswith("--")
        or _TIME_OR_DATE_RE.search(stripped)
        or _YEAR_RE.search(stripped)
        or EMAIL_RE.search(stripped)
    ):
        return False
    if _VERB_END_RE.search(stripped) or _VERB_MID_RE.search(stripped):
        return True
    # Gmail in Russian, Yandex, mail.ru and others: "<date>, <name> <address>:" with no verb,
    # always with the address in angle brackets ("placed on 2024-01-05 by a@b.c:" is prose).
    return (
        _BRACKETED_ADDRESS_COLON_RE.search(stripped) is not None
        and _TIME_OR_DATE_RE.search(stripped) is not None
    )


def is_attribution_line(line: str) -> bool:
    """One line that reads as a whole attribution ("On <date>, <name> wrote:")."""
    return _looks_like_attribution(line)


def is_dated_address_line(line: str) -> bool:
    """A date and an address ("2011/4/7 Nathan <support@example.com>"): an attribution
    without verb or colon, which only counts when a quoted block follows it directly."""
    return (
        len(line) < 250
        and EMAIL_RE.search(line) is not None
        and _TIME_OR_DATE_RE.search(line) is not None
    )


_EVIDENCE_RE = re.compile(r"[\d@]|^\s*--")
_VERB_AT_END_RE = re.compile(rf"{_VERB}\W*$")


def _may_end_attribution(line: str) -> bool:
    stripped = line.rstrip()
    if not stripped:
        return False
    if stripped[-1] in ":：-":
        return True
    return _VERB_AT_END_RE.search(stripped[-40:]) is not None


def _ends_sentence(line: str) -> bool:
    tail = line[-40:]
    if _SENTENCE_END_RE.search(tail) is None:
        return False
    return not (_DAY_END_RE.search(tail) and "@" in line[:MAX_HEADER_CHARS])


def find_attributions(lines: Sequence[str], quoted: Sequence[bool]) -> dict[int, tuple[int, int]]:
    """Attribution lines, wrapped or not: first line -> (end line exclusive, start offset).

    `quoted` says which lines are inside a quote; an attribution may only end on one (a
    client wrapped "...<a@b.c>:" into "...<a@b.c" and ">:").
    """
    found: dict[int, tuple[int, int]] = {}
    evidence: dict[int, bool] = {}  # a digit, an "@" or leading dashes: computed on demand

    def has_evidence(index: int) -> bool:
        if index not in evidence:
            evidence[index] = _EVIDENCE_RE.search(lines[index][:MAX_HEADER_CHARS]) is not None
        return evidence[index]

    for last, line in enumerate(lines):
        if not _may_end_attribution(line):
            continue
        window = range(max(0, last - MAX_ATTRIBUTION_LINES + 1), last + 1)
        if not any(has_evidence(index) for index in window):
            continue
        span = _attribution_ending_at(lines, quoted, last)
        if span is not None:
            first, offset = span
            found.setdefault(first, (last + 1, offset))
    return found


def _attribution_ending_at(
    lines: Sequence[str], quoted: Sequence[bool], last: int
) -> tuple[int, int] | None:
    # Only the final line of a wrapped attribution may carry a stray ">" ("...<a@b.c\n>:").
    best: tuple[int, int, int] | None = None  # strength, first line, offset
    blanks = 0
    for first in range(last, max(-1, last - MAX_ATTRIBUTION_LINES), -1):
        line = lines[first]
        if not line.strip():
            blanks += 1
            if blanks > 1:
                break
            continue
        if first < last and (quoted[first] or _ends_sentence(line)):
            # A quoted line, or one that ends a sentence or another header, is not part of
            # this attribution: "Le projet est prêt.\n2014-03-20 ... <x@y.z>:" keeps its
            # first line.
            break
        strength = _start_strength(line)
        if strength is None:
            continue
        level, offset = strength
        if best is not None and best[0] >= level:
            continue
        window = "\n".join(lines[first : last + 1])[offset:]
        if _looks_like_attribution(window):
            best = (level, first, offset)
    if best is not None:
        return best[1], best[2]
    line = lines[last]
    if (
        not quoted[last]
        and EMAIL_RE.search(line[:MAX_HEADER_CHARS])
        and _looks_like_attribution(line)
    ):
        return last, 0
    return None
