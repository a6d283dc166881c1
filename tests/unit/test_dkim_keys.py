"""The production DKIM key lookup's reading of TXT answers (the lookup itself needs DNS and
is not run in tests)."""

from __future__ import annotations

from connector.net.dkim_keys import MAX_RECORD_BYTES, key_record


def test_key_record_joins_split_strings() -> None:
    # RFC 6376 §3.6.2.2: strings of one TXT record are joined with nothing between them.
    assert key_record([[b"v=DKIM1; k=rsa; p=MIIB", b"IjANBg"]]) == "v=DKIM1; k=rsa; p=MIIBIjANBg"


def test_key_record_skips_records_without_key() -> None:
    assert key_record([[b"google-site-verification=x"], [b"v=DKIM1; p=AB"]]) == "v=DKIM1; p=AB"
    assert key_record([[b"v=spf1 -all"]]) is None
    assert key_record([]) is None


def test_key_record_refuses_oversized_record() -> None:
    assert key_record([[b"p=" + b"A" * MAX_RECORD_BYTES]]) is None
