"""Auto-reply, bounce, report, bulk and loop classification (DESIGN.md, "Processing rules")."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from connector.mail import bounce
from connector.mail.classify import LOOP_HEADER, Classification, MailKind, classify
from connector.mail.inbound import Address, InboundEmail

PERSON = "From: Alice Example <alice@example.org>\nTo: help@example.com\n"
REPLY = "In-Reply-To: <ticket-1@example.com>\nReferences: <ticket-1@example.com>\n"
PLAIN = "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"


def inbound_email(raw: bytes) -> InboundEmail:
    """An InboundEmail from raw bytes, filling what classification reads (headers, sender,
    subject, plain-text body, the MIME tree). Stands in for `connector.mail.message.parse_email`
    where that is not available, and lets tests state exact header sets."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    headers: list[tuple[str, str]] = []
    for name, raw_value in message.raw_items():
        try:
            value = str(message.policy.header_fetch_parse(name, raw_value))
        except Exception:  # CPython's header parser still raises on some hostile values
            value = str(raw_value)
        headers.append((name, value))
    subject = next((value for name, value in headers if name.lower() == "subject"), "")
    return InboundEmail(
        sender=_sender(message),
        reply_to=(),
        to=(),
        cc=(),
        subject=subject,
        date=None,
        message_id=None,
        in_reply_to=(),
        references=(),
        text_body=_plain_text(message),
        html_body="",
        attachments=(),
        forwarded=(),
        headers=tuple(headers),
        defects=(),
        size=len(raw),
        message=message,
    )


def _sender(message: EmailMessage) -> Address | None:
    try:
        header = message["From"]
        addresses = header.addresses if header is not None else ()
    except Exception:  # an unparseable From is "no sender", as for the real parser
        return None
    if not addresses:
        return None
    return Address(addresses[0].addr_spec, addresses[0].display_name)


def _plain_text(message: EmailMessage) -> str:
    try:
        body = message.get_body(preferencelist=("plain",))
        if body is not None:
            return str(body.get_content())
    except (LookupError, ValueError, KeyError, AttributeError):
        pass  # unknown charset or a broken part: fall back to the first readable payload
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and part.get_content_maintype() in ("text", "multipart"):
            try:
                return payload.decode(part.get_content_charset() or "utf-8", "replace")
            except LookupError:
                return payload.decode("utf-8", "replace")
    return ""


def classify_text(text: str, *, loop_header_value: str | None = None) -> Classification:
    return classify(inbound_email(text.encode()), loop_header_value=loop_header_value)


def dsn(extra_headers: str = "") -> str:
    """A Postfix-style RFC 3464 DSN: human part, machine part, returned headers."""
    return (
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\n"
        "To: help@example.com\nSubject: Undelivered Mail Returned to Sender\n"
        f"{extra_headers}MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nI'm sorry to have to inform you...\n"
        "--B\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; bob@example.net\nAction: failed\nStatus: 5.1.1\n"
        "--B\nContent-Type: text/rfc822-headers\n\n"
        "From: help@example.com\nTo: bob@example.net\nSubject: [HELP-1] Your request\n"
        "--B--\n"
    )


def test_classify_auto_submitted_auto_replied_is_auto_reply() -> None:
    result = classify_text(PERSON + "Subject: Away\nAuto-Submitted: auto-replied\n\nBack soon\n")

    assert result.kind is MailKind.AUTO_REPLY
    assert result.reason == "auto-reply: Auto-Submitted: auto-replied"
    assert [s.evidence for s in result.signals] == ["Auto-Submitted: auto-replied"]


@pytest.mark.parametrize(
    "value",
    [
        "Auto-Replied (zimbra; vacation)",  # Zimbra: a comment after the keyword
        'auto-replied; owner-email="alice@example.org"',  # RFC 5436-style parameter
        "(vacation) auto-replied",  # RFC 3834 §5 allows CFWS before the keyword too
    ],
)
def test_classify_auto_submitted_with_comment_reads_keyword(value: str) -> None:
    result = classify_text(PERSON + f"Auto-Submitted: {value}\n\nx\n")

    assert result.reason == "auto-reply: Auto-Submitted: auto-replied"


def test_classify_auto_submitted_no_is_human() -> None:
    result = classify_text(PERSON + "Subject: Printer\nAuto-Submitted: no\n\nIt is broken.\n")

    assert result.kind is MailKind.HUMAN
    assert result.is_human
    assert result.signals == ()
    assert result.reason == "human: no automatic-mail signs"


@pytest.mark.parametrize("value", ["auto-forwarded", "Auto-Forwarded; by=rule", "auto-escalated"])
def test_classify_auto_submitted_values_rfc_3834_does_not_define_are_human(value: str) -> None:
    # A forwarding rule's copy carries a person's words (issue 19): logged, never obeyed, and
    # no second weak sign (an Exchange inbox-rule header) turns it into an auto-reply.
    result = classify_text(
        PERSON
        + f"Subject: FW: Printer\nAuto-Submitted: {value}\n"
        + "X-MS-Exchange-Inbox-Rules-Loop: ann@example.com\n\nIt is broken.\n"
    )

    assert result.kind is MailKind.HUMAN
    keyword = value.split(";")[0].lower()
    assert f"Auto-Submitted: {keyword} (not an RFC 3834 value; ignored)" in result.reason


def test_classify_auto_submitted_auto_notified_is_automatic() -> None:
    # RFC 5436 §7 registers auto-notified (Sieve notifications) beside RFC 3834's two.
    result = classify_text(PERSON + "Auto-Submitted: auto-notified\n\nNew mail.\n")

    assert result.kind is MailKind.AUTO_REPLY


def test_classify_delivery_status_report_is_bounce() -> None:
    result = classify_text(dsn())

    assert result.kind is MailKind.BOUNCE
    assert result.reason == "bounce: multipart/report; report-type=delivery-status"


def test_classify_delivery_status_report_with_auto_submitted_ranks_bounce_first() -> None:
    result = classify_text(dsn(extra_headers="Auto-Submitted: auto-replied\nPrecedence: bulk\n"))

    assert result.kind is MailKind.BOUNCE
    assert "Auto-Submitted: auto-replied" in [s.evidence for s in result.signals]


def test_classify_disposition_notification_is_auto_reply() -> None:
    # An RFC 8098 read receipt, sent by the recipient's mail client.
    mdn = (
        PERSON + REPLY + "Subject: Read: [HELP-1] Printer\nMIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=disposition-notification; boundary=M\n\n"
        "--M\nContent-Type: text/plain\n\nYour message was displayed.\n"
        "--M\nContent-Type: message/disposition-notification\n\n"
        "Final-Recipient: rfc822; alice@example.org\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\n"
        "--M--\n"
    )
    result = classify_text(mdn)

    assert result.kind is MailKind.AUTO_REPLY
    assert result.reason == "auto-reply: multipart/report; report-type=disposition-notification"


def test_classify_feedback_report_is_feedback_report() -> None:
    arf = (
        "From: abuse@isp.example\nTo: help@example.com\nSubject: FW: Your request\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="A"\n'
        "\n--A\nContent-Type: text/plain\n\nThis is an email abuse report.\n"
        "--A\nContent-Type: message/feedback-report\n\n"
        "Feedback-Type: abuse\nUser-Agent: SomeGenerator/1.0\nVersion: 1\n"
        "--A\nContent-Type: message/rfc822\n\nFrom: help@example.com\nSubject: x\n\nbody\n"
        "--A--\n"
    )
    result = classify_text(arf)

    assert result.kind is MailKind.FEEDBACK_REPORT
    assert result.reason == "feedback-report: multipart/report; report-type=feedback-report"


def test_classify_report_part_inside_mixed_is_bounce() -> None:
    # Gateways re-wrap a DSN in multipart/mixed; the message/delivery-status part still says it.
    wrapped = dsn().replace("multipart/report; report-type=delivery-status", "multipart/mixed")
    wrapped = wrapped.replace("MAILER-DAEMON@mx.example.com", "gateway@mx.example.com")

    result = classify_text(wrapped)

    assert result.kind is MailKind.BOUNCE
    assert result.reason == "bounce: message/delivery-status part"


def test_classify_mailer_daemon_plain_text_is_bounce() -> None:
    result = classify_text(
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\nTo: help@example.com\n"
        "Subject: failure notice\n\nHi. This is the qmail-send program.\n"
    )

    assert result.kind is MailKind.BOUNCE
    assert result.reason == "bounce: From: MAILER-DAEMON"


def test_classify_precedence_list_is_bulk() -> None:
    result = classify_text(PERSON + "Subject: [dev] release\nPrecedence: list\n\nShipped.\n")

    assert result.kind is MailKind.BULK
    assert result.reason == "bulk: Precedence: list"


def test_classify_list_id_is_bulk() -> None:
    result = classify_text(
        PERSON + "Subject: [dev] hi\nList-Id: Developers <dev.example.org>\n\nx\n"
    )

    assert result.kind is MailKind.BULK
    assert result.reason == "bulk: List-Id: Developers <dev.example.org>"


def test_classify_list_unsubscribe_hides_recipient_address() -> None:
    result = classify_text(
        PERSON + "List-Unsubscribe: <mailto:leave+alice%40example.org@lists.example>\n\nx\n"
    )

    assert result.reason == "bulk: List-Unsubscribe"
    assert "alice" not in " ".join(s.evidence for s in result.signals)


def test_classify_loop_header_without_expected_value_is_own_loop() -> None:
    result = classify_text(
        PERSON + f"{LOOP_HEADER}: tenant-a\nAuto-Submitted: auto-generated\n\nx\n"
    )

    assert result.kind is MailKind.OWN_LOOP
    assert result.reason == f"own-loop: {LOOP_HEADER}"


def test_classify_loop_header_with_matching_value_is_own_loop() -> None:
    result = classify_text(PERSON + f"{LOOP_HEADER}: tenant-a\n\nx\n", loop_header_value="tenant-a")

    assert result.kind is MailKind.OWN_LOOP


def test_classify_loop_header_of_other_tenant_is_not_own_loop() -> None:
    result = classify_text(PERSON + f"{LOOP_HEADER}: tenant-b\n\nx\n", loop_header_value="tenant-a")

    assert result.kind is MailKind.HUMAN
    assert f"{LOOP_HEADER} of another tenant" in result.reason


def test_classify_out_of_office_subject_alone_on_reply_is_human() -> None:
    result = classify_text(
        PERSON + REPLY + "Subject: Automatic reply: [HELP-1] Printer\n\nThanks!\n"
    )

    assert result.kind is MailKind.HUMAN
    assert result.reason == 'human: weak evidence only (Subject starts with "Automatic reply:")'


@pytest.mark.parametrize(
    "subject",
    ["Out of office next week", "Re: Out of Office: [HELP-1] Printer", "Vacation request"],
)
def test_classify_person_subject_mentioning_absence_is_not_evidence(subject: str) -> None:
    result = classify_text(PERSON + f"Subject: {subject}\nReturn-Path: <>\n\nx\n")

    assert result.kind is MailKind.HUMAN
    assert not any(s.evidence.startswith("Subject") for s in result.signals)


def test_classify_out_of_office_subject_with_x_autoreply_is_auto_reply() -> None:
    result = classify_text(
        PERSON + REPLY + "Subject: Out of Office: Printer\nX-Autoreply: yes\n\nx\n"
    )

    assert result.kind is MailKind.AUTO_REPLY
    assert result.reason == "auto-reply: X-Autoreply"


@pytest.mark.parametrize(
    "subject",
    ["Abwesenheitsnotiz: Drucker", "Réponse automatique : Imprimante", "Autosvar: Skrivare"],
)
def test_classify_translated_out_of_office_subject_with_null_return_path_is_auto_reply(
    subject: str,
) -> None:
    result = classify_text(PERSON + REPLY + f"Subject: {subject}\nReturn-Path: <>\n\nx\n")

    assert result.kind is MailKind.AUTO_REPLY
    assert result.reason.endswith(" + Return-Path: <>")


def test_classify_outlook_mail_with_auto_response_suppress_is_human() -> None:
    # Outlook and Exchange put this on people's mail to distribution lists too (Redmine #19558).
    result = classify_text(
        PERSON + "Subject: Laptop does not boot\nX-Mailer: Microsoft Outlook 16.0\n"
        "X-Auto-Response-Suppress: All\nX-MS-Has-Attach:\nThread-Index: AdFuZ6XxOH+qH5H+\n\n"
        "Since this morning my laptop shows a black screen.\n"
    )

    assert result.kind is MailKind.HUMAN
    assert result.reason == "human: weak evidence only (X-Auto-Response-Suppress)"


def test_classify_exchange_out_of_office_is_auto_reply() -> None:
    # Exchange 2010 auto-replies carry no Auto-Submitted, only these weak marks together.
    result = classify_text(
        PERSON + REPLY + "Subject: Automatic reply: Printer\nReturn-Path: <>\n"
        "X-Auto-Response-Suppress: All\nX-MS-Exchange-Inbox-Rules-Loop: alice@example.org\n\n"
        "I am out of the office.\n"
    )

    assert result.kind is MailKind.AUTO_REPLY
    assert "X-MS-Exchange-Inbox-Rules-Loop" in result.reason
    assert "alice@example.org" not in result.reason


def test_classify_person_forwarding_bounce_inline_is_human() -> None:
    result = classify_text(
        PERSON + "Subject: Fwd: Undelivered Mail Returned to Sender\n\n"
        "Why does this bounce?\n\n---------- Forwarded message ---------\n"
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\n\n"
        "This is the mail system at host mx.example.org.\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        "<bob@example.net>: host mx.example.net said: 550 5.1.1 <bob@example.net>:\n"
        "    Recipient address rejected: User unknown (in reply to RCPT TO command)\n"
        "550 5.1.1 User unknown\n"
    )

    assert result.kind is MailKind.HUMAN


def test_classify_person_forwarding_bounce_as_attachment_is_human() -> None:
    forwarded = (
        PERSON + "Subject: FW: Undelivered Mail Returned to Sender\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="F"\n\n'
        "--F\nContent-Type: text/plain\n\nSee the attached bounce, what is wrong?\n"
        "--F\nContent-Type: message/rfc822\n\n" + dsn() + "\n--F--\n"
    )

    result = classify_text(forwarded)

    assert result.kind is MailKind.HUMAN
    assert result.reason == "human: weak evidence only (encloses a message)"


def test_classify_person_typing_bounce_subject_and_smtp_error_is_human() -> None:
    # Subject and body are what a person types: content alone never decides.
    result = classify_text(
        PERSON + "Subject: Delivery failure to acme.example\n\n"
        "Our mails to acme bounce with:\n550 5.7.1 Message rejected as spam\n"
    )

    assert result.kind is MailKind.HUMAN
    assert "SMTP reply in the body" in result.reason


def test_classify_postmaster_with_smtp_reply_is_bounce() -> None:
    result = classify_text(
        "From: post_master@sms.example.com\nTo: help@example.com\nSubject: Re: Your ticket\n"
        + REPLY
        + "\nError: Invalid user address\n\n550 - Requested action not taken: no such user here\n"
    )

    assert result.kind is MailKind.BOUNCE
    assert result.reason == "bounce: From: postmaster + SMTP reply in the body"


def test_classify_auto_submitted_with_bounce_subject_is_bounce() -> None:
    # Postfix and Exim mark plain-text bounces Auto-Submitted; the subject tells which kind.
    result = classify_text(
        "From: relay@example.com\nSubject: Mail delivery failed: returning message to sender\n"
        "Auto-Submitted: auto-replied\n\nThis message was created automatically.\n"
    )

    assert result.kind is MailKind.BOUNCE
    assert result.reason == (
        'bounce: Auto-Submitted: auto-replied + Subject starts with "Mail delivery failed"'
    )


def test_classify_vendor_bounce_with_null_return_path_is_bounce_by_flufl() -> None:
    # No report structure, no report-like subject: only flufl.bounce's detectors read it.
    text = (
        "Return-Path: <>\nFrom: relay@mx.example.net\nTo: help@example.com\nSubject: Notice\n\n"
        "The original message was received at Mon, 1 Jan 2024 10:00:00 +0100\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<bob@example.net>\n"
    )

    result = classify_text(text)

    assert result.kind is MailKind.BOUNCE
    assert result.reason == "bounce: flufl.bounce: 1 failed recipient(s)"


def test_classify_same_text_from_person_does_not_ask_flufl() -> None:
    text = (
        PERSON + "Subject: Notice\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<bob@example.net>\n"
    )

    assert bounce.count_failed_recipients(inbound_email(text.encode())) == 1
    assert classify_text(text).kind is MailKind.HUMAN


def test_classify_large_message_skips_flufl() -> None:
    text = (
        "Return-Path: <>\nFrom: relay@mx.example.net\nSubject: Notice\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n<bob@example.net>\n"
    )
    padding = "x" * 79 + "\n"
    large = text + padding * (bounce.HEURISTIC_MAX_BYTES // len(padding) + 1)

    assert classify_text(text).kind is MailKind.BOUNCE
    assert classify_text(large).kind is MailKind.HUMAN


def test_classify_ses_bounce_notification_is_bounce() -> None:
    result = classify_text(
        "From: no-reply@sns.amazonaws.com\nSubject: AWS Notification Message\n"
        "x-amz-sns-message-id: 02f86d9b\n\n"
        '{"Type" : "Notification", "Message" : "{\\"notificationType\\":\\"Bounce\\"}"}\n'
    )

    assert result.kind is MailKind.BOUNCE
    assert result.reason == "bounce: Amazon SES Bounce notification"


def test_classify_deeply_nested_multipart_finishes_human() -> None:
    depth = 300
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth)
    )
    closing = "".join(f"\n--b{i}--\n" for i in reversed(range(depth)))
    text = (
        PERSON + "Subject: nested\nMIME-Version: 1.0\n" + opening + "Content-Type: text/plain\n\nhi"
    )

    result = classify_text(text + closing)

    assert result.kind is MailKind.HUMAN


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("X-Autorespond: yes", MailKind.AUTO_REPLY),
        ("X-AutoReply-From: alice@example.org", MailKind.AUTO_REPLY),
        ("X-Mail-Autoreply: yes", MailKind.AUTO_REPLY),
        ("X-Autogenerated: Reply", MailKind.AUTO_REPLY),
        ("X-FC-MachineGenerated: true", MailKind.AUTO_REPLY),
        ("X-Apple-Action: VACATION", MailKind.AUTO_REPLY),
        ("X-Mailer: Vacation autoresponder 2.1", MailKind.AUTO_REPLY),
        ("Precedence: auto_reply", MailKind.AUTO_REPLY),
        ("Precedence: junk", MailKind.BULK),
        ("X-Precedence: bulk", MailKind.BULK),
        ("X-Failed-Recipients: bob@example.net", MailKind.BOUNCE),
        ("Return-Path: <MAILER-DAEMON@mx.example.net>", MailKind.BOUNCE),
        ("X-Apple-Unsubscribe: true", MailKind.FEEDBACK_REPORT),
    ],
)
def test_classify_vendor_header_alone_decides(header: str, kind: MailKind) -> None:
    result = classify_text(PERSON + f"Subject: hello\n{header}\n\nx\n")

    assert result.kind is kind
    assert "alice@example.org" not in result.reason


@pytest.mark.parametrize(
    "header",
    [
        "X-Autoreply: no",
        "X-Autogenerated: Forward",
        "X-Mailer: Microsoft Outlook 16.0",
        "X-Loop: helpdesk@example.com",
        "X-MS-Exchange-Inbox-Rules-Loop: alice@example.org",
        "Return-Path: <>",
        "Precedence: first-class",
    ],
)
def test_classify_weak_or_harmless_header_alone_is_human(header: str) -> None:
    assert classify_text(PERSON + f"Subject: hello\n{header}\n\nx\n").kind is MailKind.HUMAN
