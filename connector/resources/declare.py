"""`Setting`: one input of an admin-editable resource, and what is derived from a tuple of them.

A setting says what the API takes (JSON type, null or not, required, bounds, choices), how it
is kept (a column of its own, JSON text in a column, or a secret stored encrypted) and what the
OpenAPI document says about it. Rules between settings belong to the typed value the resource
becomes, not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connector.resources.schema import Schema, boolean, integer, nullable, string, strings

# A Jira project key, as every resource that names a project takes it.
PROJECT_KEY_PATTERN = "^[A-Z][A-Z0-9_]{0,31}$"

Kind = Literal["string", "integer", "boolean", "strings", "object", "array"]
Storage = Literal["column", "json", "secret", "none"]

# What a value of each kind must be, as the mail source API has always said it.
_WANTED: Mapping[Kind, str] = {
    "string": "a string",
    "integer": "a whole number",
    "boolean": "true or false",
    "strings": "a list of strings",
    "object": "an object",
}


@dataclass(frozen=True)
class Setting:
    """One input. `schema` replaces the derived OpenAPI schema where the value is a structure
    of its own (a list of rules, a policy object) described elsewhere in the document."""

    name: str
    kind: Kind
    description: str = ""
    nullable: bool = False
    required: bool = False
    write_only: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    format: str | None = None
    storage: Storage = "column"
    schema: Schema | None = None

    def property_schema(self) -> Schema:
        """What the OpenAPI document says about this setting."""
        if self.schema is not None:
            found = self.schema
        elif self.kind == "string":
            more: dict[str, Any] = {
                "enum": list(self.choices) or None,
                "minLength": self.min_length,
                "maxLength": self.max_length,
                "pattern": self.pattern,
                "format": self.format,
            }
            found = string(self.description, **{k: v for k, v in more.items() if v is not None})
        elif self.kind == "integer":
            extra = {"description": self.description} if self.description else {}
            found = integer(self.minimum, self.maximum, **extra)
        elif self.kind == "boolean":
            found = boolean(self.description)
        elif self.kind == "strings":
            found = strings(self.description)
        else:
            raise ValueError(f"{self.name}: a {self.kind} setting needs its schema")
        return nullable(found) if self.nullable else found

    def bounds(self) -> tuple[int, int]:
        """(minimum, maximum) of a whole number declared with both."""
        if self.minimum is None or self.maximum is None:
            raise ValueError(f"{self.name}: declared without both bounds")
        return self.minimum, self.maximum

    def type_problem(self, value: object) -> str | None:
        """Why `value` is not of this setting's JSON type, or None when it is."""
        if value is None and self.nullable:
            return None
        if self.kind == "array":
            return None  # a structure its own reader checks, naming the item at fault
        if _has_kind(self.kind, value):
            return None
        return f"must be {_WANTED[self.kind]}" + (" or null" if self.nullable else "")


def _has_kind(kind: Kind, value: object) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        # JSON true is not a number, though Python calls bool an int.
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "strings":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, dict)


def names(settings: Iterable[Setting], *, write_only: bool = True) -> tuple[str, ...]:
    """The settings' names in declaration order (the order a form shows them)."""
    return tuple(s.name for s in settings if write_only or not s.write_only)


def stored_as(settings: Iterable[Setting], storage: Storage) -> tuple[str, ...]:
    return tuple(s.name for s in settings if s.storage == storage)


def properties(settings: Iterable[Setting], *, write_only: bool = True) -> Schema:
    return {s.name: s.property_schema() for s in settings if write_only or not s.write_only}


def required(settings: Iterable[Setting]) -> list[str]:
    return [s.name for s in settings if s.required]
