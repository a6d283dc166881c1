"""Limits on what an admin's Jinja2 template may cost when it renders.

Jinja2's sandbox stops access to Python internals, not a template that builds a 300 MB string
(`{{ 'a' * 300000000 }}`) or loops a billion times (`range` inside `range`). The real bound is
the template worker's time and memory budget (`connector.outbound.rendering`): a custom
template only ever renders there. The checks here come first because they fail early, in
words an admin can act on. The sandbox refuses, with a `TemplateLimitError` (a Jinja2
`SecurityError`, hence a `TemplateError`), to:

- build text or lists longer than `MAX_BUILT` with `*`, `+`, `%`, `~`, a method or a filter,
  or numbers over `MAX_INT_BITS` bits with `*` or `**`;
- hand out more than `MAX_RANGE_ITEMS` numbers from `range` in one render (nested loops add up);
- call macros (or a recursive loop) more than `MAX_CALLS` times in one render, or nest such
  calls deeper than `MAX_CALL_DEPTH` (a macro calling itself twice doubles its cost per level);
- pass a number above `MAX_ARGUMENT` to a method or filter (`'a'.center(10**9)`);
- produce more than `MAX_OUTPUT` characters (rendered chunk by chunk, stopped at the limit).

`lipsum` is gone from the globals: `lipsum(100000)` made megabytes of text in one call.

`MAX_OUTPUT` is 256 KiB for each of a mail's parts: Gmail clips a message past 102 KB, and
the largest thing a notification carries is one Jira comment (32,767 characters by default),
a few times that once rendered as HTML. So a real template never meets these limits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT = 256 * 1024
MAX_BUILT = MAX_OUTPUT
MAX_INT_BITS = 4096
MAX_RANGE_ITEMS = 10_000
MAX_ARGUMENT = 100_000
MAX_CALLS = 10_000
MAX_CALL_DEPTH = 30

_Sized = str | bytes | list | tuple  # type: ignore[type-arg]


@dataclass
class _Allowance:
    """What the render under way may still use (per thread and task, via a ContextVar)."""

    range_items: int = MAX_RANGE_ITEMS
    calls: int = MAX_CALLS
    depth: int = 0


_allowance: ContextVar[_Allowance | None] = ContextVar("template_allowance", default=None)


class TemplateLimitError(SecurityError):
    """A template went over one of the limits; the message says which, for the admin."""


def _too_long(how: str) -> TemplateLimitError:
    return TemplateLimitError(
        f"a template may not build text or lists longer than {MAX_BUILT // 1024} KiB {how}"
    )


def _check_built(value: Any, how: str) -> Any:
    if isinstance(value, _Sized) and len(value) > MAX_BUILT:
        raise _too_long(how)
    return value


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, _Sized) and isinstance(count, int):
                if len(sequence) * max(count, 0) > MAX_BUILT:
                    raise _too_long("with *")
                return
        if _is_int(left) and _is_int(right) and _bits(left) + _bits(right) > MAX_INT_BITS:
            raise TemplateLimitError(f"a template may not compute numbers over {MAX_INT_BITS} bits")
    elif operator == "**":
        if _is_int(left) and _is_int(right) and right > 0 and _bits(left) * right > MAX_INT_BITS:
            raise TemplateLimitError(f"a template may not compute numbers over {MAX_INT_BITS} bits")
    elif (
        operator == "+"
        and isinstance(left, _Sized)
        and isinstance(right, _Sized)
        and len(left) + len(right) > MAX_BUILT
    ):
        raise _too_long("with +")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bits(value: int) -> int:
    return max(abs(value).bit_length(), 1)


def _check_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if _is_int(value) and abs(value) > MAX_ARGUMENT:
            raise TemplateLimitError(
                f"a template may not pass a number above {MAX_ARGUMENT} to a method or filter"
            )


def bounded_range(*args: int) -> range:
    """`range`, counting what it hands out against the render's allowance."""
    numbers = range(*args)
    allowance = _allowance.get() or _Allowance()
    if len(numbers) > allowance.range_items:
        raise TemplateLimitError(
            f"a template may loop over at most {MAX_RANGE_ITEMS} numbers from range() in all"
        )
    allowance.range_items -= len(numbers)
    return numbers


@contextmanager
def _counted_call() -> Iterator[None]:
    """One macro (or recursive loop) call, counted against the render's allowance."""
    allowance = _allowance.get() or _Allowance()
    if allowance.calls <= 0:
        raise TemplateLimitError(f"a template may call macros at most {MAX_CALLS} times")
    if allowance.depth >= MAX_CALL_DEPTH:
        raise TemplateLimitError(f"a template may nest macro calls at most {MAX_CALL_DEPTH} deep")
    allowance.calls -= 1
    allowance.depth += 1
    try:
        yield
    finally:
        allowance.depth -= 1


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)  # keeps Jinja2's pass_context/pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_arguments(args[1:], kwargs)
        return _check_built(function(*args, **kwargs), f"with the {name} filter")

    return bounded


class _BoundedCodeGenerator(CodeGenerator):
    """`a ~ b` compiles to a call of Jinja2's `str_join`, which no sandbox hook sees; here it
    goes through `BoundedSandbox.call_concat`, so repeated `~` in `{% set %}` is bounded too."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.call_concat(")
        super().visit_Concat(node, frame)
        self.write(")")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the limits above."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = bounded_range
        self.globals.pop("lipsum", None)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        try:
            result = super().call_binop(context, operator, left, right)
        except (ArithmeticError, MemoryError) as exc:
            raise TemplateLimitError(f"a calculation in the template failed: {exc}") from None
        return _check_built(result, f"with {operator}")

    def call_concat(self, joined: str) -> str:
        return _check_built(joined, "with ~")  # type: ignore[no-any-return]

    def call(
        __self,  # Jinja2's own signature: no argument name can clash with a keyword
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        _check_arguments(args, kwargs)
        if isinstance(__obj, Macro | LoopContext):
            with _counted_call():
                result = super().call(__context, __obj, *args, **kwargs)
            return _check_built(result, "with a macro")
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_built(result, "with a method")


def render_bounded(template: Template, context: Mapping[str, Any]) -> str:
    """The template's text, stopped with a `TemplateLimitError` past `MAX_OUTPUT`."""
    token = _allowance.set(_Allowance())
    try:
        pieces: list[str] = []
        size = 0
        for piece in template.generate(**context):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise TemplateLimitError(
                    f"a template may produce at most {MAX_OUTPUT // 1024} KiB of text"
                )
            pieces.append(piece)
        return "".join(pieces)
    finally:
        _allowance.reset(token)
