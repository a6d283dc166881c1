"""Evidence that a message is a delivery report: DSN, MDN, feedback report or a vendor bounce.

`connector.mail.classify` weighs this evidence together with the auto-reply headers; this module
only finds it. Pure: it reads the parsed MIME tree and never does IO.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value, getaddresses
from typing import Literal

from flufl.bounce import all_failures

from connector.mail.inbound import InboundEmail

# A hostile message can nest thousands of parts; reports keep theirs near the top (a
# multipart/report at the top level, or wrapped once or twice by a gateway).
MAX_PARTS = 200
MAX_DEPTH = 8
# SMTP transcripts sit near the top of vendor bounces; a human mail's 50th KB tells us nothing.
BODY_SCAN_CHARS = 8_000
# flufl.bounce reads every line of every part, about 0.4 s per MB measured here: one large spam
# with an empty Return-Path must not hold up a mailbox. Vendor bounces are a few KB (the largest
# of 850 in the shared corpus is 73 KB) and truncate what they return.
HEURISTIC_MAX_BYTES = 256 * 1024

# "bounce": RFC 3464 / RFC 6533 delivery status (a failure, delay or success notice); "mdn": an
# RFC 8098 disposition notification (read receipt); "feedback": an RFC 5965 abuse/opt-out report;
# "report": any other RFC 6522 report (e.g. RFC 8460 TLS reports), machine-made by definition.
ReportKind = Literal["bounce", "mdn", "feedback", "report"]

REPORT_KINDS: dict[str, ReportKind] = {
    "delivery-status": "bounce",
    "global-delivery-status": "bounce",
    "disposition-notification": "mdn",
    "global-disposition-notification": "mdn",
    "feedback-report": "feedback",
}
# The machine-readable part of each report, found even when a gateway re-wrapped the report in
# multipart/mixed (seen from Exchange, Lotus and SMS gateways).
REPORT_PART_KINDS: dict[str, ReportKind] = {
    "message/delivery-status": "bounce",
    "message/global-delivery-status": "bounce",
    "message/disposition-notification": "mdn",
    "message/global-disposition-notification": "mdn",
    "message/feedback-report": "feedback",
}
# Microsoft's Junk Mail Reporting Program predates ARF: a plain multipart/mixed whose enclosed
# message carries this header, added by Hotmail/Outlook.com to the reported copy.
JMRP_HEADER = "X-HmXmrOriginalRecipient"

# RFC 5321 §4.5.5: reports are sent by the mail system, conventionally as MAILER-DAEMON (in From,
# or as the envelope sender where an MTA does not use the null path). Nobody writes to a support
# desk under that name, so this alone is enough. Names are compared with "-", "_" and quoting
# flattened to spaces: MAILER-DAEMON, Mailer_Daemon, "Mailer Daemon".
_DAEMON_NAMES = frozenset(
    {
        "mailer daemon",
        "mailerdaemon",
        "mail daemon",
        "maildaemon",
        "mail delivery subsystem",
        "mail delivery system",
    }
)
# RFC 5321 §4.5.1 postmaster, and the names Exchange and gateways sign reports with, are role
# mailboxes people also answer from: they only count together with other evidence.
_POSTMASTER_NAMES = frozenset(
    {"postmaster", "post master", "system administrator", "mail administrator"}
)
_NAME_SEPARATORS = re.compile(r"""[-_"\\\s]+""")
_FROM_CHARS = 1_000

# Subjects MTAs put on non-delivery reports (Postfix, Sendmail, Exim, qmail, Exchange, Lotus,
# Domino and their translations). Anchored at the start: a person forwarding or answering a
# bounce writes "Fwd:" / "Re:" in front, and that mail must reach the desk.
_BOUNCE_SUBJECT = re.compile(
    r"""^\s*(?:
        undeliver(?:ed|able)
      | (?:mail\ )?delivery\ (?:status\ )?(?:notification|failure|report|failed|problem|warning)
      | delivery\ has\ failed
      | (?:mail|message)\ (?:delivery\ )?(?:failed|failure|not\ delivered|could\ not\ be\ delivered)
      | message\ delivery\ has\ failed
      | (?:returned|failed|undelivered|rejected)\ mail
      | mail\ (?:system\ error|failure|not\ delivered)
      | failure\ notice | failure\ delivery | failed\ delivery
      | non-?deliver(?:y|able)
      | permanent\ delivery\ failure
      | delayed\ mail | warning:\ (?:message|could\ not\ send)
      | postmaster\ notify
      | (?:unzustellbar|nicht\ zustellbar)
      | non\ remis | non\ recapitabile | onbestelbaar | no\ entregado
      | メールエラー | メッセージを配信できません | 配信エラー
      | недоставленное\ сообщение | ваше\ сообщение\ не\ доставлено
      | 退信 | 系统退信
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# An SMTP reply at the start of a line ("550 5.1.1 ...", "550 - Requested action not taken"), as
# vendor bounces quote the remote server's answer (RFC 5321 §4.2, RFC 3463 status codes).
_SMTP_REPLY_LINE = re.compile(
    r"(?:^|\r)[ \t>]*[45][0-9]{2}(?:[ -]+[45]\.[0-9]{1,3}\.[0-9]{1,3}\b|[ \t]+-[ \t]+[A-Za-z])",
    re.MULTILINE,
)
_ENCLOSED_ORIGINAL = frozenset({"message/rfc822", "text/rfc822-headers", "message/global"})
# Amazon SES delivers bounce, complaint and delivery events as SNS notifications: JSON (escaped
# once more inside the SNS envelope) in a plain-text mail marked with X-Amz-Sns-Message-Id.
SNS_HEADER = "X-Amz-Sns-Message-Id"
_SES_EVENT = re.compile(
    r'\\?"(?:notificationType|eventType)\\?"\s*:\s*\\?"(Bounce|Complaint|Delivery|DeliveryDelay)\\?"'
)
_SES_EVENT_KINDS: dict[str, ReportKind] = {
    "Bounce": "bounce",
    "Complaint": "feedback",
    "Delivery": "bounce",
    "DeliveryDelay": "bounce",
}


@dataclass(frozen=True)
class ReportEvidence:
    """What kind of report the message is, and the evidence an admin reads."""

    kind: ReportKind
    evidence: str


def find_report(email: InboundEmail) -> ReportEvidence | None:
    """A machine-readable report (RFC 6522 multipart/report and its parts) or a JMRP complaint."""
    message = email.message
    is_report = message.get_content_type() == "multipart/report"
    report_type = _param(message, "report-type")[:40] if is_report else ""
    known = REPORT_KINDS.get(report_type)
    if known:
        return ReportEvidence(known, f"multipart/report; report-type={report_type}")
    for part in _walk(message):
        content_type = part.get_content_type()
        part_kind = REPORT_PART_KINDS.get(content_type)
        if part_kind:
            return ReportEvidence(part_kind, f"{content_type} part")
        if content_type == "message/rfc822" and _enclosed_has_header(part, JMRP_HEADER):
            return ReportEvidence("feedback", f"enclosed message with {JMRP_HEADER} (JMRP)")
    if is_report:
        return ReportEvidence("report", f"multipart/report; report-type={report_type or '(none)'}")
    if email.header(SNS_HEADER) is not None:
        event = _SES_EVENT.search(email.text_body[:BODY_SCAN_CHARS])
        if event:
            evidence = f"Amazon SES {event.group(1)} notification"
            return ReportEvidence(_SES_EVENT_KINDS[event.group(1)], evidence)
    return None


def find_daemon_sender(email: InboundEmail) -> str | None:
    """Which header names the mail system itself ("From", "Return-Path"; "Sender" for the
    sender a parser settled on), if any."""
    if not _DAEMON_NAMES.isdisjoint(_from_names(email)):
        return "From"
    for value in email.header_values("Return-Path"):
        if _local_part(value.strip().strip("<>")) in _DAEMON_NAMES:
            return "Return-Path"
    if not _DAEMON_NAMES.isdisjoint(_parsed_sender_names(email)):
        return "Sender"
    return None


def is_postmaster_sender(email: InboundEmail) -> bool:
    names = [*_from_names(email), *_parsed_sender_names(email)]
    return not _POSTMASTER_NAMES.isdisjoint(names)


def has_empty_from(email: InboundEmail) -> bool:
    """A From header naming no mailbox ("MAILER-DAEMON <>", "<>"), as reports and spam have."""
    values = email.header_values("From")
    return bool(values) and not any(address.strip("<> ") for _, address in _from_pairs(email))


def _from_names(email: InboundEmail) -> list[str]:
    """Local parts and display names of everything the From header names."""
    names: list[str] = []
    for name, address in _from_pairs(email):
        names += [_local_part(address), _flatten(name)]
    return names


def _parsed_sender_names(email: InboundEmail) -> list[str]:
    # The parser may have taken the sender from Return-Path or Sender when From was unusable.
    if email.sender is None:
        return []
    return [_local_part(email.sender.address), _flatten(email.sender.name)]


def _from_pairs(email: InboundEmail) -> list[tuple[str, str]]:
    # Bounded: a hostile From with thousands of addresses tells nothing more than its first few.
    return getaddresses([value[:_FROM_CHARS] for value in email.header_values("From")])[:8]


def _local_part(address: str) -> str:
    """The mailbox name before the first "@", flattened (mangled addresses such as
    `Postmaster\\@example.com@relay` keep their role name in front)."""
    return _flatten(address.partition("@")[0])


def _flatten(name: str) -> str:
    return _NAME_SEPARATORS.sub(" ", name).strip().lower()


def match_bounce_subject(subject: str) -> str | None:
    """The report-like opening of the subject, or None."""
    match = _BOUNCE_SUBJECT.match(subject)
    return match.group(0).strip() if match else None


def has_enclosed_original(email: InboundEmail) -> bool:
    """A returned copy of a message (RFC 6522's optional third part, or a vendor's attachment)."""
    return any(part.get_content_type() in _ENCLOSED_ORIGINAL for part in _walk(email.message))


def has_smtp_reply_line(email: InboundEmail) -> bool:
    return _SMTP_REPLY_LINE.search(email.text_body[:BODY_SCAN_CHARS]) is not None


def count_failed_recipients(email: InboundEmail) -> int:
    """Recipients flufl.bounce reads as failed, for vendor bounces that are not RFC 3464 DSNs.

    flufl.bounce's heuristic detectors raise on some malformed input (e.g. a missing From); that
    is "no answer", not a bounce.
    """
    if email.size > HEURISTIC_MAX_BYTES:
        return 0
    try:
        temporary, permanent = all_failures(email.message)
    except Exception:  # a third-party heuristic failing must not quarantine the message
        return 0
    return len(temporary) + len(permanent)


def _walk(message: Message) -> Iterator[Message]:
    """Parts of this message, not descending into enclosed messages (a forwarded bounce inside a
    person's mail is the person's evidence, not the mail's)."""
    stack: list[tuple[Message, int]] = [(message, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        yield part
        if depth < MAX_DEPTH and part.get_content_maintype() == "multipart":
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(
                    (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
                )


def _enclosed_has_header(part: Message, name: str) -> bool:
    enclosed = part.get_payload()
    if isinstance(enclosed, list) and enclosed and isinstance(enclosed[0], Message):
        return enclosed[0].get(name) is not None
    return False


def _param(message: Message, name: str) -> str:
    value = message.get_param(name, header="content-type")
    if value is None or (isinstance(value, str) and not value):
        return ""
    return collapse_rfc2231_value(value).strip().lower()
