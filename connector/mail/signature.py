"""Recognising signatures at the end of a reply.

Only reliable markers are used, because a false positive deletes what the customer wrote:
- the RFC 3676 section 4.3 delimiter "-- " (many clients send it without the space);
- the lines mobile and desktop apps append ("Sent from my iPhone", "Get Outlook for iOS",
  "Gesendet von meinem iPad"...), but only when short and free of sentence punctuation, so
  "Sent from my desk, is much easier then my mobile phone." stays;
- a "-Name" sign-off on its own line at the very end.

Closings such as "Regards, Roman" are kept on purpose: they are short, harmless in a Jira
comment, and indistinguishable from a last sentence without a model of the sender.
"""

# ruff: noqa: RUF001 - multilingual patterns: the Cyrillic and curly-quote characters are
# what clients write, not look-alike typos.
from __future__ import annotations

import re

_DELIMITER_RE = re.compile(r"^--[ \t]*$")

# Apps whose "Sent from <app>" line is a signature even without "my".
_FOR = r"(?:for|für|pour|para|per|voor|för|dla|для)"
_APPS = (
    rf"outlook(?:\s+{_FOR}\s+(?:ios|android|mac|windows))?|yahoo\s+mail(?:\s+\w+){{0,3}}"
    rf"|mail\s+{_FOR}\s+windows(?:\s+1[01])?"
    r"|windows\s+mail|samsung(?:\s+\w+){0,3}|typeapp|acompli"
    r"|mailbox(?:\s+for\s+\w+)?|blackberry(?:\s+\w+){0,4}|android|aol(?:\s+\w+){0,2}"
    r"|iphon(?:e(?:['’]a)?|u)|ipad(?:['’]a|u)?"  # Polish "z iPhone'a", Czech "z iPhonu"
    r"|gmail(?:\s+mobile)?|proton\s?mail|spark|bluemail|edison\s+mail|airmail|mymail"
    r"|zoho\s+mail|huawei(?:\s+\w+){0,3}|xiaomi(?:\s+\w+){0,3}|newton|mail\.ru(?:\s+\w+){0,2}"
    r"|the\s+mail\s+app|outlook\s+mobile|gmx\s+mail|web\.de\s+mail|mail"
)
# Outlook's "get the app" line, in the languages it ships: "Get Outlook for Android",
# "Obtenir Outlook pour iOS", "Outlook für Android herunterladen", "Scarica Outlook per iOS".
_GET_OUTLOOK = (
    r"(?:get|obtenir|obtener|obter|baixar|scarica|hämta|pobierz|hent|download)"
    r"\s+(?:o\s+|aplikację\s+)?outlook\s+(?:for|pour|para|per|för|dla|til|voor)"
    r"\s+(?:systemu\s+)?(?:ios|android)"
    r"|outlook\s+(?:für|voor)\s+(?:ios|android)\s+(?:herunterladen|downloaden)"
)
# "my <device>": up to six words with no sentence punctuation ("Sent from my Wiko RIDGE FAB 4G").
_MY_DEVICE = r"(?:my|mon|ma|meinem|meiner|mi|mio|il\s+mio|meu|o\s+meu|mijn|min|mitt|mojego|mojej)"
_DEVICE_WORDS = r"[^\s,;:.!?()<>]+(?:\s+[^\s,;:.!?()<>]+){0,5}"
_LINK = r"(?:\s*+[<(\[][^>)\]]*+[>)\]])?"
_MOBILE_RE = re.compile(
    r"^\s*(?:"
    rf"(?:sent|envoyé|envoye|gesendet|enviado|inviato|verzonden|verstuurd|skickat|sendt"
    rf"|wysłane|lähetetty|odesláno|отправлено)\s+(?:from|de|depuis|von|mit|desde|do|da|dal"
    rf"|vanaf|vanuit|van"
    rf"|met|från|fra|z|с|à\s+partir\s+de)\s+(?:{_MY_DEVICE}\s+{_DEVICE_WORDS}|{_APPS})"
    rf"|sent\s+wirelessly\s+from\s+my\s+blackberry.*|sent\s+(?:with|via|using)\s+(?:{_APPS}|sparrow)"
    rf"|{_GET_OUTLOOK}|von\s+meinem\s+{_DEVICE_WORDS}\s+gesendet"
    rf"|gesendet\s+mit\s+der\s+(?:gmx|web\.de|1&1)\s+mail\s+app"
    rf"|отправлено\s+из\s+мобильной\s+почты\s+mail\.ru|lähetetty\s+(?:iphonesta|ipadista)"
    rf"|(?:iphone|ipad)から送信|发自我的\S+|從我的\s*\S+\s*傳送"
    rf"){_LINK}\s*+[.!]?\s*+$",  # possessive: trailing spaces are read once, not split
    re.IGNORECASE,
)
# "-Abhishek Kona", "-Lev." (talon, email_reply_parser): a dash sign-off, one to three names.
_DASH_SIGNOFF_RE = re.compile(r"^\s*-\s?(?P<names>[^\W\d_][\w.'’-]*(?:\s+[^\W\d_][\w.'’-]*){0,2})$")
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*•+]|\d+[.)])\s*\S")


def is_signature_delimiter(line: str) -> bool:
    return _DELIMITER_RE.match(line) is not None


# The link Outlook puts inside the line ("Sent from Mail<https://...> for Windows 10").
_INNER_LINK_RE = re.compile(r"<https?://[^\s<>]{1,200}>")


def is_mobile_signature(line: str) -> bool:
    """ "Sent from my iPhone" and friends, in the languages the apps ship."""
    if len(line) > 300:
        return False
    if "<http" in line:
        line = _INNER_LINK_RE.sub("", line)
    return len(line) <= 160 and _MOBILE_RE.match(line) is not None


def is_dash_signoff(line: str, nearest_above: str | None) -> bool:
    """A last line like "-Abhishek Kona"; the caller checks a blank line sets it apart.

    `nearest_above` is the nearest non-blank line above it: a "-Name" under a list of
    "- item" lines is the list's last item, not a sign-off.
    """
    if len(line) > 60 or line.lstrip().startswith("--"):
        return False
    match = _DASH_SIGNOFF_RE.match(line.rstrip())
    if match is None:
        return False
    if not all(word[0].isupper() for word in match.group("names").split()):
        return False
    return nearest_above is None or _LIST_ITEM_RE.match(nearest_above) is None
