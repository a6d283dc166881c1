"""Limits on what an admin's Jinja2 template may cost when it renders.

Templates render in the shared worker, for every tenant. Jinja2's sandbox stops access to
Python internals, not a template that builds a 300 MB string (`{{ 'a' * 300000000 }}`) or loops
a billion times (`range` inside `range`). So the sandbox here refuses, with a
`TemplateLimitError` (a Jinja2 `SecurityError`, hence a `TemplateError`), to:

- build text or lists longer than `MAX_BUILT` with `*` or `+`, or numbers over `MAX_INT_BITS`
  bits with `*` or `**`;
- hand out more than `MAX_RANGE_ITEMS` numbers from `range` in one render (nested loops add up);
- pass a number above `MAX_ARGUMENT` to a method or filter (`'a'.center(10**9)`);
- produce more than `MAX_OUTPUT` characters (rendered chunk by chunk, stopped at the limit).

The limits are far above what a notification needs, so a real template never meets them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2 import Template
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT = 256 * 1024
MAX_BUILT = MAX_OUTPUT
MAX_INT_BITS = 4096
MAX_RANGE_ITEMS = 10_000
MAX_ARGUMENT = 100_000

_Sized = str | bytes | list | tuple  # type: ignore[type-arg]
# Numbers `range` may still hand out in the render under way (per thread and task).
_range_left: ContextVar[list[int] | None] = ContextVar("range_left", default=None)


class TemplateLimitError(SecurityError):
    """A template went over one of the limits; the message says which, for the admin."""


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, _Sized) and isinstance(count, int):
                if len(sequence) * max(count, 0) > MAX_BUILT:
                    raise TemplateLimitError(
                        f"a template may not build text or lists longer than {MAX_BUILT} with *"
                    )
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
        raise TemplateLimitError(
            f"a template may not build text or lists longer than {MAX_BUILT} with +"
        )


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
    left = _range_left.get()
    allowance = left[0] if left is not None else MAX_RANGE_ITEMS
    if len(numbers) > allowance:
        raise TemplateLimitError(
            f"a template may loop over at most {MAX_RANGE_ITEMS} numbers from range() in all"
        )
    if left is not None:
        left[0] -= len(numbers)
    return numbers


def _bounded_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)  # keeps Jinja2's pass_context/pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_arguments(args[1:], kwargs)
        return function(*args, **kwargs)

    return bounded


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the limits above."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = bounded_range
        self.filters = {name: _bounded_filter(f) for name, f in self.filters.items()}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        try:
            return super().call_binop(context, operator, left, right)
        except (ArithmeticError, MemoryError) as exc:
            raise TemplateLimitError(f"a calculation in the template failed: {exc}") from None

    def call(
        __self,  # Jinja2's own signature: no argument name can clash with a keyword
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        _check_arguments(args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


def render_bounded(template: Template, context: Mapping[str, Any]) -> str:
    """The template's text, stopped with a `TemplateLimitError` past `MAX_OUTPUT`."""
    token = _range_left.set([MAX_RANGE_ITEMS])
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
        _range_left.reset(token)
