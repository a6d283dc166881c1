"""Recognising quoted history in a reply, one line (or a few wrapped lines) at a time.

Mail clients mark the start of the message being answered in a handful of ways, and each has
translations: an attribution line ("On <date>, <name> wrote:"), a header block copied from the
original ("From: ... Sent: ... To: ... Subject: ..."), a banner ("-----Original Message-----"),
an underscore rule (Outlook), or `>` prefixes (RFC 3676 section 4.5). The patterns below were
written from the formats seen in the shared reply corpora and in clients' output; the decision
of what to remove lives in `connector.mail.reply_plan`.

Every pattern is precompiled and anchored or applied to a bounded slice of one line, so a
pathological 1 MB line costs one linear scan, never a quadratic backtrack.
"""

# ruff: noqa: RUF001 - the patterns are multilingual: Cyrillic, full-width colons, curly
# apostrophes and dotless i are the characters clients write, not look-alike typos.
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Longest text considered as one attribution or header line: real ones are under ~300 chars;
# capping keeps the regexes' work bounded on hostile input.
MAX_HEADER_CHARS = 600
# An attribution wrapped by the sender's client spans at most this many lines (Polymail-style
# "On ... John\n\n<\nmailto:...\n> wrote:" is the longest seen).
MAX_ATTRIBUTION_LINES = 5

EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
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
# "... wrote:", "... wrote", "---- John Smith wrote ----", "... a écrit :"
_VERB_END_RE = re.compile(rf"{_VERB}\s*[:：]?\s*-*\s*$")
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
# share a line (talon's corpus); only English with a weekday, month or digit after "On".
_MID_LINE_ON_RE = re.compile(
    r"(?:(?<=[\s.,;!?)])|(?<=-))-*\s*On\s+(?=(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr"
    r"|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)|\d)"
)
_SENTENCE_END_RE = re.compile(r"[.!?;:：]\s*$")

# "-----Original Message-----" and its translations; "------------------ Original ---" (QQ).
_ORIGINAL_WORDS = (
    r"original\s+message|original|reply\s+message|ursprüngliche\s+nachricht|originalnachricht"
    r"|antwort\s+nachricht|oprindelig\s+meddelelse|oprindelig\s+besked|message\s+d['’]origine"
    r"|mensaje\s+original|mensagem\s+original|messaggio\s+originale|oorspronkelijk\s+bericht"
    r"|origineel\s+bericht|ursprungligt\s+meddelande|opprinnelig\s+melding"
    r"|alkuperäinen\s+viesti|wiadomość\s+oryginalna|oryginalna\s+wiadomość"
    r"|исходное\s+сообщение|původní\s+zpráva|eredeti\s+üzenet|orijinal\s+mesaj|原始邮件|原始郵件"
    r"|元のメッセージ|원본\s+메시지"
)
_ORIGINAL_RE = re.compile(
    rf"^\s*(?:[-_=*]{{2,}}\s*(?:{_ORIGINAL_WORDS})\s*[-_=*]*|(?:{_ORIGINAL_WORDS})\s*[-_=*]{{2,}})"
    r"\s*$",
    re.IGNORECASE,
)
# Between rules, a stem is enough: "----- Original Nachricht ----" (GMX), "--- Mensaje Original".
_RULED_ORIGINAL_RE = re.compile(
    r"^\s*[-_=*]{2,}\s*[^\n]{0,30}?(?<![^\W\d_])(?:original|origine|originale|ursprüngliche"
    r"|oprindelig|opprinnelig|ursprungligt|oorspronkelijk|alkuperäinen|oryginalna|исходное"
    r"|původní|eredeti|orijinal|原始|元の|원본)[^\n]{0,30}?[-_=*]{2,}\s*$",
    re.IGNORECASE,
)
_FORWARD_WORDS = (
    r"forwarded\s+message|forwarded\s+e-?mail|weitergeleitete\s+nachricht|message\s+transféré"
    r"|mensaje\s+reenviado|mensagem\s+encaminhada|messaggio\s+inoltrato|doorgestuurd\s+bericht"
    r"|vidarebefordrat\s+meddelande|videresendt\s+meddelelse|videresendt\s+melding"
    r"|videresendt\s+besked|välitetty\s+viesti|wiadomość\s+przekazana|przekazana\s+wiadomość"
    r"|пересылаемое\s+сообщение|переслане\s+повідомлення|přeposlaná\s+zpráva"
    r"|továbbított\s+üzenet|iletilen\s+ileti|转发的邮件|轉寄的郵件|転送されたメッセージ|전달된\s+메시지"
)
_FORWARD_RE = re.compile(
    rf"^\s*(?:[-_=*]{{2,}}\s*(?:{_FORWARD_WORDS})\s*[-_=*]*"
    r"|(?:begin\s+forwarded\s+message|anfang\s+der\s+weitergeleiteten\s+nachricht"
    r"|début\s+du\s+message\s+réexpédié|début\s+du\s+message\s+transféré"
    r"|inicio\s+del\s+mensaje\s+reenviado|início\s+da\s+mensagem\s+reencaminhada"
    r"|inizio\s+messaggio\s+inoltrato|begin\s+doorgestuurd\s+bericht"
    r"|начало\s+пересылаемого\s+сообщения)\s*[:：]?)\s*$",
    re.IGNORECASE,
)
# Subject prefixes clients add when forwarding (Fwd, FW; German WG, French TR, Spanish RV,
# Portuguese Enc, Finnish VS, Dutch Doorst, Polish PD, Italian I, Chinese 转发, Japanese 転送).
_FORWARD_SUBJECT_RE = re.compile(
    r"^\s*(?:fwd?|wg|tr|rv|enc|vs|doorst|wtr|pd|i|转发|轉寄|転送)\s*[:：]", re.IGNORECASE
)
_UNDERSCORE_RULE_RE = re.compile(r"^\s*_{2,}\s*$")
SEPARATOR_RE = re.compile(r"^\s*[-_=*~#—–.]{2,}\s*$")

# Header labels of a quoted header block, by field, in the languages Outlook, Gmail, Apple Mail,
# Thunderbird and webmails use. Keys are lower-cased with single spaces.
_LABEL_KINDS: dict[str, str] = {}
for _kind, _labels in {
    "from": "from|von|de|van|da|fra|från|od|от|lähettäjä|feladó|kimden|afzender|remetente"
    "|mittente|expéditeur|nadawca|差出人|发件人|寄件者|寄件人|보낸 사람|từ",
    "date": "sent|date|gesendet|datum|envoyé|envoyé le|verzonden|inviato|enviado|enviado el"
    "|enviada|sendt|skickat|dato|data|wysłano|wysłane|отправлено|дата|发送时间|日期|時間|送信日時"
    "|날짜|보낸 날짜|lähetetty|päivämäärä|elküldve|dátum|tarih|gönderildi|message du|fecha"
    "|odesláno|ngày gửi",
    "to": "to|an|à|a|aan|para|til|till|do|кому|收件人|宛先|받는 사람|vastaanottaja|címzett|kime"
    "|komu|tới",
    "cc": "cc|kopie|copie|copie à|kopia|копия|抄送|副本|참조|kopio|másolat|bilgi",
    "subject": "subject|betreff|objet|onderwerp|oggetto|asunto|assunto|emne|ämne|temat|тема"
    "|主题|主旨|件名|제목|aihe|tárgy|konu|sujet|předmět|chủ đề",
}.items():
    for _label in _labels.split("|"):
        _LABEL_KINDS[_label] = _kind
_LABEL_ALTERNATION = "|".join(
    sorted((re.escape(label).replace(r"\ ", r"\s+") for label in _LABEL_KINDS), key=len)[::-1]
)
# "From: x", "*From:* x" (Gmail's plain rendering of bold), "De : x", "Envoyé le :x". The label
# is captured generically and looked up, which is far cheaper per line than an alternation.
_LABEL_LINE_RE = re.compile(
    r"^\s*[*_]{0,2}\s*(?P<label>[^\W\d_]+(?:\s[^\W\d_]+)?)\s*[*_]{0,2}\s*[:：]"
)
# Any "Word:" start, so that a line of some other "Label:" list ends a header block scan.
_OTHER_LABEL_RE = re.compile(r"^\s*[*_]{0,2}[^\W\d_][\w .-]{0,24}[:：]")
_LABEL_ANYWHERE_RE = re.compile(
    rf"(?<![\w])[*_]{{0,2}}(?P<label>{_LABEL_ALTERNATION})\s*[*_]{{0,2}}\s*[:：]", re.IGNORECASE
)
_HEADER_BLOCK_STARTS = frozenset({"from", "date"})


def is_quoted(line: str) -> bool:
    """A `>` line (RFC 3676 section 4.5), unless it is a "> Offer of the day <" banner."""
    text = line.lstrip(" \t")
    return text[:1] == ">" and not text.rstrip().endswith("<")


def strip_quote_markers(line: str) -> str:
    """The line without its leading `>` markers (and the spaces between them)."""
    return re.sub(r"^(?:[ \t]*>)+[ \t]?", "", line, count=1)


def label_kind(line: str) -> str | None:
    """'from', 'date', 'to', 'cc' or 'subject' when the line starts with a header label."""
    if len(line) > MAX_HEADER_CHARS * 4:
        return None
    match = _LABEL_LINE_RE.match(line)
    if match is None:
        return None
    return _LABEL_KINDS.get(" ".join(match.group("label").lower().split()))


def label_kinds(lines: Sequence[str]) -> list[str | None]:
    """`label_kind` of every line, computed once for a whole message."""
    return [label_kind(line) for line in lines]


def has_header_fields(text: str) -> bool:
    """Whether `text` holds a From (or Date) label and another header label, anywhere: the
    test for a separator <div> of Outlook's whose lines the markup does not break."""
    kinds = {
        _LABEL_KINDS.get(" ".join(match.group("label").lower().split()))
        for match in _LABEL_ANYWHERE_RE.finditer(text[:2000])
    }
    return bool(kinds & _HEADER_BLOCK_STARTS) and len(kinds) >= 2


@dataclass(frozen=True)
class HeaderBlock:
    """A quoted header block: lines `start` to `end` (exclusive) and its subject, if any."""

    start: int
    end: int
    subject: str

    @property
    def is_forward(self) -> bool:
        return _FORWARD_SUBJECT_RE.match(self.subject) is not None


def match_header_block(
    lines: Sequence[str], start: int, kinds_of_lines: Sequence[str | None] | None = None
) -> HeaderBlock | None:
    """A block of header fields starting with From/Date/Sent, with a date or subject among
    at least two different fields.

    "Date: Wednesday 3, October 2011\\nTime: 7:00am\\nAddress: ..." in a plain invitation has
    one header field only, so it is not taken for quoted history (talon's corpus).
    `kinds_of_lines`, from `label_kinds`, saves recomputing labels when scanning many lines.
    """

    def kind_at(index: int) -> str | None:
        return kinds_of_lines[index] if kinds_of_lines is not None else label_kind(lines[index])

    first = kind_at(start)
    if first not in _HEADER_BLOCK_STARTS:
        return None
    kinds = {first}
    subject = ""
    continuation = blanks = 0
    end = start + 1
    for index in range(start + 1, min(len(lines), start + 12)):
        line = lines[index]
        kind = kind_at(index)
        if kind is not None:
            if kind in kinds and kind != "to":
                break  # a header block names each field once ("To" may wrap onto a second)
            kinds.add(kind)
            if kind == "subject":
                subject = _LABEL_LINE_RE.sub("", line, count=1).strip().lstrip("*_ ").strip()
            continuation = blanks = 0
            end = index + 1
            continue
        if not line.strip():
            blanks += 1
            if blanks > 1:
                break
            continue
        # A wrapped value ("From: Human Resources\\n<a-really-long-address@...>") continues the
        # block; another kind of "Label:" or a third free line ends it.
        continuation += 1
        if continuation > 2 or _OTHER_LABEL_RE.match(line) or is_quoted(line):
            break
    # Two fields, one of them a date or a subject: "From: Monday 9am\nTo: Friday 5pm" in a
    # reply is an availability, not a header.
    if len(kinds) >= 2 and kinds & {"date", "subject"}:
        return HeaderBlock(start, end, subject)
    if _has_inline_fields(lines[start]):
        return HeaderBlock(start, end, subject)
    return None


def _has_inline_fields(line: str) -> bool:
    # "From: bob@example.com Date: Thu, 24 Mar 2016" on one line (HTML whose fields sit in
    # inline <b> elements). Only the long labels count here: "to:" or "do:" inside a
    # sentence is too common to mean a header.
    first = _LABEL_LINE_RE.match(line)
    if first is None:
        return False
    kinds = {
        _LABEL_KINDS.get(" ".join(match.group("label").lower().split()))
        for match in _LABEL_ANYWHERE_RE.finditer(line[:MAX_HEADER_CHARS], first.end())
        if len(match.group("label")) > 3
    }
    return bool(kinds & {"date", "subject"})


def _may_be_banner(line: str) -> bool:
    # Every banner has a rule of dashes (or the like) or ends with a colon; most lines have
    # neither, and this test is much cheaper than the patterns.
    return len(line) < 200 and (
        "--" in line
        or "__" in line
        or "==" in line
        or "**" in line
        or line.rstrip().endswith((":", "："))
    )


def is_original_message_banner(line: str) -> bool:
    return _may_be_banner(line) and (
        _ORIGINAL_RE.match(line) is not None or _RULED_ORIGINAL_RE.match(line) is not None
    )


def is_forward_banner(line: str) -> bool:
    return _may_be_banner(line) and _FORWARD_RE.match(line) is not None


def is_underscore_rule(line: str) -> bool:
    return _UNDERSCORE_RULE_RE.match(line) is not None


def is_separator(line: str) -> bool:
    """A rule of dashes, underscores, equals signs...: decoration, never reply content."""
    return len(line) < 400 and SEPARATOR_RE.match(line) is not None


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
        return 2, match.start()
    return None


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
        if first < last and (quoted[first] or _SENTENCE_END_RE.search(line[-40:])):
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
