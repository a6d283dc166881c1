"""Recognising quoted history in a reply, one line (or a few wrapped lines) at a time.

Mail clients mark the start of the message being answered in a handful of ways, and each has
translations: an attribution line ("On <date>, <name> wrote:"), a header block copied from the
original ("From: ... Sent: ... To: ... Subject: ..."), a banner ("-----Original Message-----"),
an underscore rule (Outlook), or `>` prefixes (RFC 3676 section 4.5). The patterns below were
written from the formats seen in the shared reply corpora and in clients' output; the decision
of what to remove lives in `connector.mail.reply_plan`, and attribution lines have their own
module, `connector.mail.attribution`.

Every pattern is precompiled and anchored or applied to a bounded slice of one line, so a
pathological 1 MB line costs one linear scan, never a quadratic backtrack.
"""

# ruff: noqa: RUF001 - the patterns are multilingual: Cyrillic, full-width colons, curly
# apostrophes and dotless i are the characters clients write, not look-alike typos.
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from connector.mail.attribution import MAX_HEADER_CHARS, is_attribution_line, is_dated_address_line

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
    rf"^\s*+(?:[-_=*]{{2,}}+\s*+(?:{_ORIGINAL_WORDS})\s*+[-_=*]*+"
    rf"|(?:{_ORIGINAL_WORDS})\s*+[-_=*]{{2,}}+)\s*+$",
    re.IGNORECASE,
)
# Between rules, a stem is enough: "----- Original Nachricht ----" (GMX), "--- Mensaje Original".
# The opening rule and spaces are possessive: backtracking into a long rule found nothing.
_RULED_ORIGINAL_RE = re.compile(
    r"^\s*+[-_=*]{2,}+\s*+[^\n]{0,30}?(?<![^\W\d_])(?:original|origine|originale|ursprüngliche"
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
    rf"^\s*+(?:[-_=*]{{2,}}+\s*+(?:{_FORWARD_WORDS})\s*+[-_=*]*+"
    r"|(?:begin\s+forwarded\s+message|anfang\s+der\s+weitergeleiteten\s+nachricht"
    r"|début\s+du\s+message\s+réexpédié|début\s+du\s+message\s+transféré"
    r"|inicio\s+del\s+mensaje\s+reenviado|início\s+da\s+mensagem\s+reencaminhada"
    r"|inizio\s+messaggio\s+inoltrato|begin\s+doorgestuurd\s+bericht"
    r"|начало\s+пересылаемого\s+сообщения)\s*+[:：]?)\s*+$",
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
    "|enviada|enviada em|enviado em|sendt|skickat|dato|data|wysłano|wysłane|отправлено|дата"
    "|发送时间|日期|時間|送信日時|日付"
    "|날짜|보낸 날짜|lähetetty|päivämäärä|elküldve|dátum|tarih|gönderildi|message du|fecha"
    "|odesláno|ngày gửi",
    "to": "to|an|à|a|aan|para|til|till|do|кому|收件人|宛先|받는 사람|vastaanottaja|címzett|kime"
    "|komu|tới",
    "cc": "cc|kopie|copie|copie à|kopia|копия|抄送|副本|참조|kopio|másolat|bilgi",
    # Outlook for Mac writes Reply-To between From and Date, in the user's language.
    "reply-to": "reply-to|reply to|antworten an|antwort an|répondre à|responder a"
    "|responder para|rispondi a|risposta|antwoord aan|odpowiedź do|svara till|svar til|返信先"
    "|回复至|답장 받는 사람",
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
# Spaces around the optional stars are one possessive run each: as `\s*[*_]{0,2}\s*` a line of
# spaces could be split between two runs in quadratically many ways (here and below).
_LABEL_LINE_RE = re.compile(
    r"^\s*+(?:[*_]{1,2}\s*+)?(?P<label>[^\W\d_]++(?:[\s-][^\W\d_]++)?)\s*+(?:[*_]{1,2}\s*+)?[:：]"
)
# Any "Word:" start, so that a line of some other "Label:" list ends a header block scan.
_OTHER_LABEL_RE = re.compile(r"^\s*[*_]{0,2}[^\W\d_][\w .-]{0,24}[:：]")
_LABEL_ANYWHERE_RE = re.compile(
    rf"(?<![\w])[*_]{{0,2}}(?P<label>{_LABEL_ALTERNATION})\s*+(?:[*_]{{1,2}}\s*+)?[:：]",
    re.IGNORECASE,
)
_HEADER_BLOCK_STARTS = frozenset({"from", "date"})


def is_quoted(line: str) -> bool:
    """A `>` line (RFC 3676 section 4.5), unless it is a "> Offer of the day <" banner."""
    text = line.lstrip(" \t")
    return text[:1] == ">" and not text.rstrip().endswith("<")


def _is_pipe_line(line: str) -> bool:
    text = line.lstrip(" \t")
    return text[:1] == "|" and text[1:2] in ("", " ", "\t")


def pipe_quoted(lines: Sequence[str]) -> set[int]:
    """Lines quoted with "| " rather than "> " (Chinese and Japanese clients, some webmails):
    only a run that directly follows an attribution ("2013/7/20 Name <a@b.c>", "On ...
    wrote:"), blank lines between allowed, as a "|" elsewhere is more often a table."""
    found: set[int] = set()
    above: str | None = None  # the last non-blank line that is not piped
    attributed = False
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if not _is_pipe_line(line):
            above, attributed = line, False
            continue
        if above is not None:  # the first of a run: read the line above it only now
            attributed = len(above) < MAX_HEADER_CHARS and (
                is_dated_address_line(above) or is_attribution_line(above)
            )
            above = None
        if attributed:
            found.add(index)
    return found


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
