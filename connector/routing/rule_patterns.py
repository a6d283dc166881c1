"""Admins' address-rule patterns, run on RE2 (the `google-re2` package). Pure.

A rule's pattern comes from a tenant's admin and runs against addresses a mail sender chooses,
in a worker shared by every tenant. A backtracking engine (Python's `re`, the `regex` package)
takes exponential time on some pattern and address pairs, and no save-time check finds them
all; RE2 matches in time linear in the address (github.com/google/re2/wiki/WhyRE2). It has no
features that need backtracking: backreferences, lookahead and lookbehind, atomic groups,
possessive repetition. A pattern RE2 cannot run is refused with a message naming the feature.

Linear in the address, but also proportional to the compiled program: `{0,1000}` compiles to
thousands of instructions, each stepped through per character when RE2's DFA gives up. So the
program size is capped too; an address has at most 254 characters, so no rule needs such counts.

Syntax admins may meet (github.com/google/re2/wiki/Syntax): `\\w`, `\\d`, `\\s` and `\\b` are
ASCII only (`\\pL` is any letter), the end of text is `\\z` (Python's `\\Z`), inline flags are
`i`, `m`, `s` and `U`. Matching is case-insensitive and over the whole address.
"""

from __future__ import annotations

import re
from typing import Protocol, cast

import re2  # ships no type information: typed by `_Compiled` below

MAX_PROGRAM_SIZE = 2_000  # RE2 instructions; `[a-z0-9._%+-]+@example\.com` takes 30
_MAX_MEMORY = 1 << 20  # bytes per compiled rule, its DFA cache included (RE2's default: 8 MiB)

# Features RE2 leaves out, as written in a pattern; looked for once RE2 has refused one.
_UNSUPPORTED = (
    (re.compile(r"\\[1-9]|\(\?P="), "backreferences (\\1, (?P=name))"),
    (re.compile(r"\(\?<?[=!]"), "lookahead and lookbehind ((?=...), (?!...), (?<=...), (?<!...))"),
    (re.compile(r"\(\?>"), "atomic groups ((?>...))"),
    (re.compile(r"[*+?}]\+"), "possessive repetition (*+, ++, ?+)"),
    (re.compile(r"\\Z"), "\\Z (RE2 writes the end of the text \\z; rules match whole addresses)"),
    (re.compile(r"\(\?#"), "comments ((?#...))"),
)


class _Compiled(Protocol):
    """What this module uses of `re2._Regexp`."""

    @property
    def programsize(self) -> int: ...

    def fullmatch(self, text: bytes) -> object | None: ...


class PatternError(ValueError):
    """Why a pattern cannot be an address rule, in words for the admin."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


_OPTIONS = re2.Options()
_OPTIONS.case_sensitive = False
_OPTIONS.never_capture = True  # yes or no is all a rule needs; capturing is slower
_OPTIONS.log_errors = False  # refusals are answered to the admin, not written to stderr
_OPTIONS.max_mem = _MAX_MEMORY


class RulePattern:
    """A compiled rule pattern: `fullmatch(address)` in time linear in the address."""

    __slots__ = ("_compiled",)

    def __init__(self, pattern: str) -> None:
        """Raises `PatternError` when RE2 cannot run `pattern`, or it is too large."""
        try:
            compiled = cast(_Compiled, re2.compile(pattern, _OPTIONS))
        except re2.error as exc:
            raise PatternError(_refusal(pattern, _message(exc))) from None
        if compiled.programsize > MAX_PROGRAM_SIZE:
            raise PatternError(
                f"too complex: RE2 compiles it to {compiled.programsize} instructions, at "
                f"most {MAX_PROGRAM_SIZE}; large counted repetitions such as {{0,1000}} make "
                "it grow (an address has at most 254 characters)"
            )
        self._compiled = compiled

    def fullmatch(self, address: str) -> bool:
        return self._compiled.fullmatch(address.encode("utf-8", "surrogatepass")) is not None


def _message(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else ""
    if isinstance(detail, bytes):
        return detail.decode("utf-8", "replace")
    return str(detail)


def _refusal(pattern: str, error: str) -> str:
    for shape, feature in _UNSUPPORTED:
        if shape.search(pattern):
            return (
                f"uses {feature}, which address rules cannot: they run on RE2, which matches "
                "in time linear in the address and so has no backreferences, lookaround, "
                f"atomic groups or possessive repetition (RE2: {error})"
            )
    return f"not a regular expression RE2 accepts: {error}"
