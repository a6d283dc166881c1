"""The slice of JQL the fake Jira understands: `field op value` clauses joined by AND.

Anything outside that slice is an error rather than "match everything", so a query the fake
cannot answer fails the test instead of passing it by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|!~|>=|<=|>|<|=|~|\(|\)|,)
      | (?P<word>[^\s"'=!~(),<>]+)
    )""",
    re.VERBOSE,
)
_PROPERTY_FIELD = re.compile(r"issue\.property\[(?P<key>[^\]]+)\]\.(?P<path>.+)$", re.IGNORECASE)


class JqlError(ValueError):
    """A query outside what the fake supports, or malformed; Jira answers such queries 400."""


@dataclass(frozen=True)
class Clause:
    field: str
    operator: str
    values: tuple[str, ...]

    @property
    def entity_property(self) -> tuple[str, str] | None:
        """(property key, object path) for `issue.property[KEY].path`, else None."""
        match = _PROPERTY_FIELD.match(self.field)
        if match is None:
            return None
        return match["key"], match["path"]


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    order_by: str | None = None
    descending: bool = False


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokens(jql: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    text = jql.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise JqlError(f"Error in the JQL Query: unexpected character at {position}")
        position = match.end()
        if match["string"] is not None:
            inner = match["string"][1:-1]
            tokens.append(_Token("value", re.sub(r"\\(.)", r"\1", inner)))
        elif match["op"] is not None:
            tokens.append(_Token("op", match["op"]))
        elif match["word"] is not None:
            tokens.append(_Token("word", match["word"]))
    return tokens


def parse_jql(jql: str) -> Query:
    tokens = _tokens(jql)
    clauses: list[Clause] = []
    index = 0

    def take() -> _Token:
        nonlocal index
        if index >= len(tokens):
            raise JqlError("Error in the JQL Query: the query ends too early")
        token = tokens[index]
        index += 1
        return token

    def peek_word(*words: str) -> bool:
        return (
            index < len(tokens)
            and tokens[index].kind == "word"
            and tokens[index].text.lower() in words
        )

    order_by: str | None = None
    descending = False
    while index < len(tokens):
        if peek_word("order"):
            take()
            if not peek_word("by"):
                raise JqlError("Error in the JQL Query: expected 'by' after 'order'")
            take()
            order_by = take().text.lower()
            if peek_word("asc", "desc"):
                descending = take().text.lower() == "desc"
            if index < len(tokens):
                raise JqlError("Error in the JQL Query: only one ORDER BY field is supported")
            break
        if clauses:
            if peek_word("or"):
                raise JqlError("fake Jira supports AND between clauses, not OR")
            if not peek_word("and"):
                raise JqlError(f"Error in the JQL Query: expected AND, got {tokens[index].text!r}")
            take()
        field = take()
        if field.kind == "op":
            raise JqlError(f"Error in the JQL Query: unexpected {field.text!r}")
        operator = take()
        if operator.kind == "word" and operator.text.lower() in ("in", "not"):
            negate = operator.text.lower() == "not"
            if negate and take().text.lower() != "in":
                raise JqlError("Error in the JQL Query: expected IN after NOT")
            if take().text != "(":
                raise JqlError("Error in the JQL Query: expected '(' after IN")
            values: list[str] = []
            while True:
                values.append(take().text)
                closing = take().text
                if closing == ")":
                    break
                if closing != ",":
                    raise JqlError("Error in the JQL Query: expected ',' or ')' in a list")
            clauses.append(Clause(field.text, "not in" if negate else "in", tuple(values)))
            continue
        if operator.kind != "op" or operator.text in ("(", ")", ","):
            raise JqlError(f"Error in the JQL Query: unsupported operator {operator.text!r}")
        value = take()
        if value.kind == "op":
            raise JqlError(f"Error in the JQL Query: expected a value, got {value.text!r}")
        clauses.append(Clause(field.text, operator.text, (value.text,)))
    if not clauses:
        raise JqlError(
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your "
            "query."
        )
    return Query(tuple(clauses), order_by, descending)
