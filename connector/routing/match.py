"""Which issue does a reply belong to? Pure: takes the email and what we know, returns a match.

Order of evidence, most reliable first: In-Reply-To, then References (newest first), both
naming a Message-ID we created an issue or comment from, or sent; then an issue key in the
subject, for the projects this source may match. Headers win over the subject because a
subject can quote any key ("see also SUP-3"), while a Message-ID we stored is ours.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from connector.mail.inbound import InboundEmail

# A Jira issue key: project key (letter first, A-Z 0-9 _), a dash, a number without leading 0.
_ISSUE_KEY = re.compile(r"(?<![A-Za-z0-9_-])([A-Z][A-Z0-9_]{0,31})-([1-9][0-9]{0,9})(?![0-9-])")
# Reply and forward prefixes in the languages of the mail clients our customers use. The
# spaces around the optional counter are one possessive run each: as `\s*(?:...)?\s*` a
# subject of spaces could be split between two runs in quadratically many ways.
_PREFIX = re.compile(
    r"^\s*+(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|doorst|tr|rif|r|enc|odp|res|ynt|vl|atb)"
    r"\s*+(?:(?:\[\d+\]|\(\d+\))\s*+)?[:\uff1a]\s*+)+",  # \uff1a: the full-width colon of CJK
    re.IGNORECASE,
)
_OWN_TAG = re.compile(r"\[\s*[A-Z][A-Z0-9_]{0,31}-[1-9][0-9]{0,9}\s*\]")
_SPACES = re.compile(r"\s+")
SUMMARY_LIMIT = 255  # Jira's summary field limit


def message_id_digest(message_id: str) -> str:
    """The stamp we store and index: SHA-256 of the Message-ID without angle brackets.

    Hashing keeps a customer's address (often inside Message-IDs) out of Jira's index.
    """
    normalised = message_id.strip().strip("<>").strip()
    return hashlib.sha256(normalised.encode("utf-8", "surrogatepass")).hexdigest()


def raw_digest(raw: bytes) -> str:
    """Stand-in identity for a message without Message-ID (RFC 5322 makes it optional)."""
    return "raw-" + hashlib.sha256(raw).hexdigest()[:60]


def issue_keys_in(subject: str, projects: Collection[str]) -> list[str]:
    """Issue keys of the allowed projects, in the order they appear."""
    allowed = set(projects)
    keys = [f"{m.group(1)}-{m.group(2)}" for m in _ISSUE_KEY.finditer(subject)]
    return list(dict.fromkeys(key for key in keys if key.rsplit("-", 1)[0] in allowed))


def clean_subject(subject: str) -> str:
    """A summary from a subject: reply/forward prefixes and our own `[KEY-1]` tags removed."""
    text = _SPACES.sub(" ", subject).strip()
    previous = None
    while previous != text:
        previous = text
        text = _PREFIX.sub("", text)
        text = _OWN_TAG.sub("", text).strip()
        text = _PREFIX.sub("", text).strip()
    text = _SPACES.sub(" ", text).strip()
    if len(text) > SUMMARY_LIMIT:
        text = text[: SUMMARY_LIMIT - 1].rstrip() + "…"
    return text


@dataclass(frozen=True)
class ThreadMatch:
    issue_key: str
    via: str  # "In-Reply-To", "References" or "subject"
    detail: str


MAX_THREAD_IDS = 200


def thread_digests(email: InboundEmail) -> list[str]:
    """Digests to look up, In-Reply-To first, then References newest first.

    At most `MAX_THREAD_IDS`: a thread's newest messages are the ones we know, and a header
    with 100,000 ids must not become a 100,000-parameter query.
    """
    ids = [*email.in_reply_to, *reversed(email.references)][:MAX_THREAD_IDS]
    return list(dict.fromkeys(message_id_digest(i) for i in ids if i.strip()))


def match_thread(
    email: InboundEmail, *, projects: Collection[str], known: Mapping[str, str]
) -> ThreadMatch | None:
    """`known` maps Message-ID digests we recorded to their issue keys."""
    for message_id in email.in_reply_to:
        key = known.get(message_id_digest(message_id))
        if key is not None:
            return ThreadMatch(key, "In-Reply-To", f"In-Reply-To names a message of {key}")
    for message_id in reversed(email.references):
        key = known.get(message_id_digest(message_id))
        if key is not None:
            return ThreadMatch(key, "References", f"References name a message of {key}")
    keys = issue_keys_in(email.subject, projects)
    if keys:
        return ThreadMatch(keys[0], "subject", f"subject names {keys[0]}")
    return None
