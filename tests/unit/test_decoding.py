"""Decoding a stranger's bytes in bounded memory: base64 (connector/mail/transfer.py) and
undeclared 8-bit text (connector/mail/charsets.py)."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable

from connector.mail.charsets import decode_text
from connector.mail.transfer import decode_base64

# Peak traced memory over input size. Before, 25 MB of either took 900 MB or more (about
# 30 times the input); what is left is the input's copies and the result.
MEMORY_RATIO = 10


def _peak_ratio(work: Callable[[], object], size: int) -> float:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / size
    finally:
        tracemalloc.stop()


def test_decode_base64_joined_encodings_decoded_one_by_one() -> None:
    assert decode_base64(b"QUJD\nRA==\nRUZH\n") == (b"ABCDEFG", True)
    assert decode_base64(b"QQ==QQ=QUJD") == (b"AAABC", True)


def test_decode_base64_padding_everywhere_decoded_in_bounded_memory() -> None:
    data = (b"QUJD" + b"QQ==" * 17 + b"!\n") * 50_000  # 3.75 MB, 850,000 padded chunks
    decoded, clean = decode_base64(data)
    assert not clean
    assert decoded.startswith(b"ABC")
    assert _peak_ratio(lambda: decode_base64(data), len(data)) < MEMORY_RATIO


def test_decode_text_utf8_with_windows_1252_bytes_read_byte_by_byte() -> None:
    # "éé" in UTF-8, then an en dash and an unassigned byte in Windows-1252; few and many.
    for count in (3, 30_000):
        text, defect = decode_text(("\u00e9\u00e9".encode() + b"\x96\x81") * count, "utf-8")
        assert text == "\u00e9\u00e9\u2013\ufffd" * count
        assert defect == "invalid bytes for charset 'utf-8' read as windows-1252"


def test_decode_text_undeclared_high_bytes_decoded_in_bounded_memory() -> None:
    generator = random.Random(3)
    line = bytes(generator.randrange(0x80, 0x100) for _ in range(76)) + b"\n"
    data = line * 50_000  # 3.85 MB
    text, defect = decode_text(data, None)
    assert len(text) >= len(data) // 2
    assert defect is not None and defect.startswith("no charset declared for 8-bit text")
    assert _peak_ratio(lambda: decode_text(data, None), len(data)) < MEMORY_RATIO


def test_decode_text_undeclared_iso_2022_jp_detected_by_its_escapes_and_recorded() -> None:
    text = "プリンターが動きません。"
    data = text.encode("iso2022_jp")

    for label in (None, "us-ascii"):
        decoded, defect = decode_text(data, label)
        assert decoded == text
        assert defect is not None and "escape sequences found; detected iso2022_jp" in defect


def test_decode_text_undeclared_iso_2022_kr_detected() -> None:
    text = "프린터가 고장났습니다."

    decoded, defect = decode_text(text.encode("iso2022_kr"), None)

    assert decoded == text
    assert defect is not None and "iso2022_kr" in defect


def test_decode_text_ascii_with_a_stray_escape_is_left_alone() -> None:
    # An ESC that starts no ISO 2022 designation (a terminal colour code) proves nothing.
    data = b"build failed: \x1b[31mred\x1b[0m\n"

    assert decode_text(data, None) == (data.decode("ascii"), None)


def test_decode_text_iso_2022_jp_under_a_utf8_label_detected() -> None:
    text = "テスト"

    decoded, defect = decode_text(text.encode("iso2022_jp"), "utf-8")

    assert decoded == text
    assert defect == "charset 'utf-8' declared but escape sequences found; detected iso2022_jp"
