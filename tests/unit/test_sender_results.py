"""Sender authentication by the trusted server's Authentication-Results (RFC 8601): which
header counts (the topmost with a trusted authserv-id), and what it says about DMARC."""

from __future__ import annotations

import time

from connector.senders.outcome import Method, Reason, SenderAuthentication
from connector.senders.results_header import MAX_RESULTS_CHARS
from connector.senders.trusted import (
    GMAIL,
    MICROSOFT,
    TrustedServers,
    for_mailbox_host,
    for_provider,
)
from connector.senders.verify import authenticate_sender
from tests.dkim_keys import lookup, message

ANN = "ann@example.com"
GOOGLE_PASS = (
    "Authentication-Results: mx.google.com;\r\n       dkim=pass header.i=@example.com"
    " header.s=s1 header.b=AbCd;\r\n       spf=pass (google.com: domain of ann@example.com"
    " designates 192.0.2.1 as permitted sender) smtp.mailfrom=ann@example.com;\r\n"
    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com\r\n"
)
GOOGLE_FAIL = (
    "Authentication-Results: mx.google.com; spf=fail smtp.mailfrom=ann@example.com;"
    " dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=example.com\r\n"
)
RECEIVED = (
    "Received: from mail.example.net by mx.google.com with ESMTPS id x1;\r\n Sun, 6 Dec 2026\r\n"
)


def check(headers: str, trusted: TrustedServers = GMAIL) -> SenderAuthentication:
    raw = message(extra_headers=headers)
    return authenticate_sender(raw, ANN, trusted=trusted, lookup_key=lookup)


def test_authenticate_sender_trusted_dmarc_pass_verified() -> None:
    result = check(GOOGLE_PASS + RECEIVED)
    assert result.verified
    assert (result.method, result.detail) == (Method.DMARC, "by mx.google.com")


def test_authenticate_sender_trusted_dmarc_fail_reported() -> None:
    result = check(GOOGLE_FAIL + RECEIVED)
    assert result.reason is Reason.DMARC_FAIL
    assert result.detail == "dmarc=fail by mx.google.com"


def test_authenticate_sender_untrusted_authserv_id_ignored() -> None:
    forged = GOOGLE_PASS.replace("mx.google.com;", "mx.evil.example;")
    result = check(forged + RECEIVED)
    assert result.reason is Reason.UNTRUSTED_RESULTS
    assert result.detail == "written by mx.evil.example"
    assert check(GOOGLE_PASS, trusted=for_mailbox_host("imap.example.org")).reason is (
        Reason.UNTRUSTED_RESULTS
    )


def test_authenticate_sender_forged_header_below_trusted_one_ignored() -> None:
    # The sender wrote a "pass" with Google's id; Google's own header, on top, says fail.
    result = check(GOOGLE_FAIL + RECEIVED + GOOGLE_PASS)
    assert result.reason is Reason.DMARC_FAIL


def test_authenticate_sender_header_above_trusted_one_from_other_server_ignored() -> None:
    # A later hop inside the receiving side (a filter) wrote its own header above Google's.
    above = GOOGLE_PASS.replace("mx.google.com;", "filter.example.org;")
    assert check(above + GOOGLE_FAIL + RECEIVED).reason is Reason.DMARC_FAIL


def test_authenticate_sender_topmost_trusted_header_alone_counts() -> None:
    # Two headers with the trusted id: the topmost was written last, by the receiving side.
    assert check(GOOGLE_PASS + RECEIVED + GOOGLE_FAIL).verified
    assert check(GOOGLE_FAIL + GOOGLE_PASS).reason is Reason.DMARC_FAIL


def test_authenticate_sender_unreadable_trusted_header_ends_search() -> None:
    # Skipping a trusted header authres cannot read would let the forged one below count.
    broken = "Authentication-Results: mx.google.com; dmarc=\r\n"
    result = check(broken + RECEIVED + GOOGLE_PASS)
    assert result.reason is Reason.NO_SIGNATURE
    assert "could not be read" in result.detail


def test_authenticate_sender_overlong_trusted_header_ends_search() -> None:
    # Too long to read, but its id is Google's: the forged "pass" below must not count.
    padding = "".join(f"; dkim=neutral header.d=x{i}.example" for i in range(700))
    overlong = GOOGLE_FAIL.replace("header.from=example.com", "header.from=example.com" + padding)
    assert len(overlong) > MAX_RESULTS_CHARS
    result = check(overlong + RECEIVED + GOOGLE_PASS)
    assert not result.verified and "could not be read" in result.detail


def test_authenticate_sender_hostile_results_headers_read_quickly() -> None:
    nested = "Authentication-Results: (" * 3 + "(" * 5000 + "mx.google.com; dmarc=pass\r\n"
    started = time.perf_counter()
    result = check(nested * 3 + MICROSOFT_PASS.replace("dmarc=pass", "dmarc=fail"), MICROSOFT)
    assert time.perf_counter() - started < 1.0
    assert result.reason is Reason.DMARC_FAIL


def test_authenticate_sender_dmarc_pass_for_other_domain_not_verified() -> None:
    other = GOOGLE_PASS.replace("header.from=example.com", "header.from=example.net")
    result = check(other)
    assert not result.verified
    assert result.detail == "dmarc=pass for example.net by mx.google.com"


def test_authenticate_sender_dmarc_none_not_verified() -> None:
    none = GOOGLE_PASS.replace("dmarc=pass (p=REJECT sp=REJECT dis=NONE)", "dmarc=none")
    result = check(none)
    assert result.reason is Reason.NO_SIGNATURE
    assert result.detail == "dmarc=none by mx.google.com"


MICROSOFT_PASS = (
    "Authentication-Results: spf=pass (sender IP is 192.0.2.1)\r\n smtp.mailfrom=example.com;"
    " dkim=pass (signature was verified)\r\n header.d=example.com;dmarc=pass action=none\r\n"
    " header.from=example.com;compauth=pass reason=100\r\n"
)


def test_authenticate_sender_microsoft_header_without_authserv_id_trusted_by_preset() -> None:
    result = check(MICROSOFT_PASS, trusted=MICROSOFT)
    assert result.verified and result.detail == "by Microsoft"
    assert check(MICROSOFT_PASS, trusted=GMAIL).reason is Reason.UNTRUSTED_RESULTS


def test_authenticate_sender_microsoft_bestguesspass_not_verified() -> None:
    guess = MICROSOFT_PASS.replace("dmarc=pass", "dmarc=bestguesspass")
    assert check(guess, trusted=MICROSOFT).detail == "dmarc=bestguesspass by Microsoft"


def test_for_mailbox_host_names_host_and_organisational_domain() -> None:
    assert for_mailbox_host("IMAP.Example.co.uk").authserv_ids == {
        "imap.example.co.uk",
        "example.co.uk",
    }
    assert for_mailbox_host("localhost").authserv_ids == frozenset()
    result = check(
        GOOGLE_PASS.replace("mx.google.com;", "example.org;"), for_mailbox_host("mail.example.org")
    )
    assert result.verified and result.detail == "by example.org"


def test_for_provider_known_providers_and_custom_host() -> None:
    assert for_provider("gmail", "imap.gmail.com") == GMAIL
    assert for_provider("microsoft365", "outlook.office365.com") == MICROSOFT
    assert for_provider("custom", "mail.example.org") == for_mailbox_host("mail.example.org")
