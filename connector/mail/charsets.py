"""Bytes to text when the declared charset is missing, misspelt or wrong.

Mail in the wild declares charsets that Python does not know (`x-unknown`, `windows-874`),
declares a charset the bytes do not fit (Shift_JIS labelled ISO-2022-JP), or sends raw 8-bit
headers with no charset at all (RFC 5322 allows only US-ASCII there; RFC 6532 adds UTF-8).
Strict decoding with the declared charset comes first, so clean parts cost one `bytes.decode`;
detection (charset-normalizer) runs only when that fails.
"""

from __future__ import annotations

import codecs
import functools
import re

from charset_normalizer import from_bytes

# Labels Python's codec registry lacks, and supersets browsers substitute (WHATWG Encoding
# Standard): mail clients label Windows code pages with the ISO name they extend.
_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "cp936": "gb18030",
    "big5": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "x-euc-jp": "euc_jp",
    "x-mac-roman": "mac-roman",
    "utf8": "utf-8",
}
# Labels that name no charset at all: the bytes must be looked at.
_UNKNOWN = {"x-unknown", "unknown", "unknown-8bit", "x-user-defined", "default", "8bit", "binary"}
# Text codecs Python has that no mail charset means; decoding with them would be nonsense.
_NOT_MAIL = {"unicode_escape", "raw_unicode_escape", "undefined", "punycode", "idna", "mbcs"}
# When a declared charset fails, its relatives are the likeliest truth.
_FAMILY = {
    # JIS X 0213 (2004, 3) has the NEC circled numbers Japanese mailers use; then 8-bit
    # Shift_JIS / EUC-JP that a mailer labelled with the 7-bit name.
    "iso2022_jp": ("iso2022_jp_2004", "iso2022_jp_3", "iso2022_jp_ext", "cp932", "euc_jp"),
    "cp932": ("euc_jp",),
    "euc_jp": ("cp932",),
    "gb18030": ("big5hkscs",),
    "big5hkscs": ("gb18030",),
    "iso2022_kr": ("cp949",),
    "cp1252": ("iso8859-1",),  # bytes 0x81, 0x8d, 0x8f, 0x90, 0x9d are unassigned in cp1252
}
_SINGLE_BYTE = re.compile(r"^(cp125\d|cp874|cp437|cp8\d\d|iso8859-\d+|mac-\w+|koi8-\w|ascii)$")
_HIGH_RUN = re.compile(rb"[\x80-\xff]+")
# Multi-byte East Asian charsets tried on raw 8-bit text that is not UTF-8.
_CJK = ("gb18030", "cp932", "cp949", "big5hkscs", "euc_jp")
_DETECT_LIMIT = 64 * 1024  # charset-normalizer looks at a prefix; enough to decide
_DETECT_MINIMUM = 256  # below this, statistical detection guesses worse than the rules here
_SAMPLE_LIMIT = 1024 * 1024  # bytes looked at to judge the shape of the 8-bit text
# Each byte `surrogateescape` could not decode as UTF-8 (U+DC80 + its low seven bits), read
# as Windows-1252; cp1252 is one byte a character, so a run reads the same byte by byte.
_ESCAPED = re.compile("[\udc80-\udcff]+")
_FEW_INVALID = 10_000
_ESCAPED_AS_CP1252 = {
    0xDC80 + low: bytes([0x80 + low]).decode("cp1252", errors="replace") for low in range(128)
}


@functools.lru_cache(maxsize=256)
def resolve_charset(label: str) -> str | None:
    """Python codec name for a MIME charset label, or None when unknown or meaningless."""
    name = label.strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    if not name or name in _UNKNOWN:
        return None
    name = _ALIASES.get(name, name)
    candidates = [name]
    if name.startswith("x-"):
        candidates.append(name[2:])
    if name.startswith("cp-"):
        candidates.append("cp" + name[3:])
    for candidate in candidates:
        try:
            info = codecs.lookup(_ALIASES.get(candidate, candidate))
        except LookupError:
            continue
        if info.name in _NOT_MAIL or not getattr(info, "_is_text_encoding", True):
            return None
        return info.name
    return None


def is_single_byte(codec: str) -> bool:
    return bool(_SINGLE_BYTE.match(codec))


def _strict(data: bytes, codec: str) -> str | None:
    if codec == "iso2022_jp_2004":
        # Microsoft's CP50220 writes NEC row-13 characters (①) after ESC $ B; JIS X 0213
        # plane 1 (ESC $ ( Q) is a superset of JIS X 0208 with them at the same code points.
        data = data.replace(b"\x1b$B", b"\x1b$(Q")
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


# ISO 2022 escape sequences (RFC 1468 ISO-2022-JP, RFC 1554 -JP-2, RFC 1557 -KR) that give a
# 7-bit body's charset away when none is declared: ESC $ B / ESC $ @ (JIS X 0208), ESC ( J
# (JIS X 0201 Roman), ESC $ ( D (JIS X 0212), ESC $ ) C (KS X 1001). ISO-2022-CN has no Python
# codec and is left to the fallback.
_ESCAPE_CODECS = (
    ((b"\x1b$)C",), ("iso2022_kr",)),
    (
        (b"\x1b$B", b"\x1b$@", b"\x1b(J", b"\x1b(I"),
        ("iso2022_jp", "iso2022_jp_2004", "iso2022_jp_ext"),
    ),
    ((b"\x1b$(D", b"\x1b.A", b"\x1b.F", b"\x1b$A", b"\x1b$(C"), ("iso2022_jp_2",)),
)


def escape_decode(data: bytes) -> tuple[str, str] | None:
    """7-bit text in an ISO 2022 encoding, told by its escape sequences: (text, codec), or
    None when there are none or no codec reads the bytes. One `in` scan for clean text."""
    if b"\x1b" not in data:
        return None
    for sequences, codecs_to_try in _ESCAPE_CODECS:
        if any(sequence in data for sequence in sequences):
            for codec in codecs_to_try:
                text = _strict(data, codec)
                if text is not None:
                    return text, codec
    return None


def _looks_multibyte(data: bytes) -> bool:
    """Latin text has lone 8-bit letters between ASCII ones; CJK text has runs of pairs."""
    runs = _HIGH_RUN.findall(data, 0, _SAMPLE_LIMIT)
    return bool(runs) and sum(len(run) for run in runs) >= 2 * len(runs)


def _non_ascii(text: str) -> int:
    """How many characters are not ASCII, counted in C."""
    return len(text) - len(text.encode("ascii", "ignore"))


def _utf8_mixed(data: bytes) -> tuple[str, int, int]:
    """UTF-8 with invalid bytes read as Windows-1252 (a Latin-1 signature pasted into a
    UTF-8 body): (text, valid non-ASCII characters, invalid bytes). The text is "" when the
    invalid bytes outnumber the valid characters, as no caller uses it then."""
    escaped = data.decode("utf-8", "surrogateescape")
    # Each invalid byte became one lone surrogate, which UTF-8 cannot encode: counted in C.
    invalid = len(data) - len(escaped.encode("utf-8", "ignore"))
    valid = _non_ascii(escaped) - invalid
    if valid < invalid:
        return "", valid, invalid
    if invalid <= _FEW_INVALID:  # one call a run: cheap for a pasted signature
        text = _ESCAPED.sub(lambda run: run.group().translate(_ESCAPED_AS_CP1252), escaped)
    else:  # C speed however many runs, about 0.1 µs a character
        text = escaped.translate(_ESCAPED_AS_CP1252)
    return text, valid, invalid


def _focus(data: bytes) -> bytes:
    """The lines that carry 8-bit bytes, up to `_DETECT_LIMIT` of them: detection on 100 KB
    of ASCII with one Chinese line would judge the ASCII."""
    if len(data) <= 1024:
        return data
    kept: list[bytes] = []
    size = start = 0
    while start < len(data) and size < _DETECT_LIMIT:
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        line = data[start:end]
        if not line.isascii():
            kept.append(line)
            size += len(line) + 1
        start = end + 1
    return b"\n".join(kept)[:_DETECT_LIMIT]


def guess_decode(data: bytes, hints: tuple[str, ...] = ()) -> tuple[str, str]:
    """Decode bytes whose charset is unknown: (text, codec used). Never raises.

    UTF-8 first (valid UTF-8 is almost never an accident), then the charsets the message
    declares elsewhere (`hints`), then detection, then Windows-1252, which every mailer
    falsely calling itself Latin-1 really is.
    """
    text = _strict(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    mixed, valid, invalid = _utf8_mixed(data)
    if valid >= invalid:
        return mixed, "utf-8 with windows-1252 bytes"
    codecs_from_hints: list[str] = []
    for hint in hints:
        codec = resolve_charset(hint)
        if codec and codec not in ("utf-8", "ascii") and codec not in codecs_from_hints:
            codecs_from_hints.append(codec)
            codecs_from_hints.extend(_FAMILY.get(codec, ()))
    multibyte = _looks_multibyte(data)
    # Multi-byte hints decode Latin text into nonsense and vice versa: try the likelier first.
    ordered = sorted(codecs_from_hints, key=lambda codec: is_single_byte(codec) == multibyte)
    for codec in ordered:
        text = _strict(data, codec)
        if text is not None:
            return text, codec
    focus = _focus(data)
    if len(focus) >= _DETECT_MINIMUM:
        best = from_bytes(focus).best()
        codec = resolve_charset(best.encoding) if best is not None else None
        if codec is not None:
            return data.decode(codec, errors="replace"), codec
    if multibyte:
        for codec in _CJK:
            text = _strict(data, codec)
            if text is not None:
                return text, codec
    text = _strict(data, "cp1252")
    if text is not None:
        return text, "cp1252"
    return data.decode("latin-1"), "latin-1"


def _lenient(data: bytes, codec: str, label: str) -> tuple[str, str] | None:
    """The declared charset despite a few bad bytes, when the rest fits: (text, defect)."""
    if codec == "utf-8":
        text, valid, invalid = _utf8_mixed(data)
        if valid >= invalid:
            return text, f"invalid bytes for charset {label!r} read as windows-1252"
        return None
    if is_single_byte(codec):
        return None
    text = data.decode(codec, errors="replace")
    bad = text.count("\ufffd")
    good = _non_ascii(text) - bad
    if good >= 10 * bad:
        return text, f"invalid bytes for charset {label!r} replaced"
    return None


def decode_text(
    data: bytes, label: str | None, hints: tuple[str, ...] = ()
) -> tuple[str, str | None]:
    """Decode a MIME text body or encoded word: (text, defect or None). Never raises."""
    codec = resolve_charset(label) if label else None
    if not (codec or "").startswith("iso2022") and b"\x1b" in data and data.isascii():
        # No charset (RFC 2045 §5.2 then means US-ASCII), US-ASCII or another charset, yet
        # ISO 2022 escape sequences in 7-bit text: read in any of those they show as
        # "$B$3$l(B" mojibake, and no text in them holds an escape designating a charset.
        escaped = escape_decode(data)
        if escaped is not None:
            declared = f"charset {label!r} declared" if label else "no charset declared"
            return escaped[0], f"{declared} but escape sequences found; detected {escaped[1]}"
    if codec is not None:
        text = _strict(data, codec)
        if text is not None:
            # A single-byte label on valid multi-byte UTF-8 is a mislabel: Latin-1 text
            # forming valid UTF-8 sequences by chance is vanishingly rare.
            if is_single_byte(codec) and not data.isascii():
                utf8 = _strict(data, "utf-8")
                if utf8 is not None:
                    return utf8, f"charset {label!r} declared but content is UTF-8"
            return text, None
        # A few bad bytes in otherwise fitting 8-bit text: keep the declared charset. 7-bit
        # text (ISO-2022) that fails is in an extension of it: try the relatives first.
        lenient = None if data.isascii() else _lenient(data, codec, label or codec)
        if lenient is not None:
            return lenient
        for relative in _FAMILY.get(codec, ()):
            text = _strict(data, relative)
            if text is not None:
                return text, f"charset {label!r} does not fit the content; used {relative}"
        text, used = guess_decode(data, hints)
        return text, f"charset {label!r} does not fit the content; detected {used}"
    if data.isascii():
        return data.decode("ascii"), None
    text, used = guess_decode(data, hints)
    if label:
        return text, f"charset {label!r} unknown; detected {used}"
    if used == "utf-8":
        return text, None  # RFC 6532: undeclared UTF-8 is what modern mailers send
    return text, f"no charset declared for 8-bit text; detected {used}"
