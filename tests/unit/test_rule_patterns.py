"""Admins' address-rule patterns on RE2, and the bounded work of routing one message.

The patterns that made the former backtracking engine spin now match in microseconds; what RE2
cannot run is refused with the reason; a rule stored before keeps its source loading; and the
worst routing the limits allow (every rule, every recipient, the longest patterns RE2 runs
slowest, the longest addresses) ends within the budget with a line in the trail.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import pytest

from connector.pipeline.routes import resolve_route
from connector.routing.addresses import (
    MAX_ADDRESS_CHARS,
    MAX_PATTERN_CHARS,
    MAX_RECIPIENTS,
    MAX_ROUTED_RECIPIENTS,
    MAX_RULES,
    ROUTING_BUDGET_SECONDS,
    AddressRule,
    Recipient,
    RuleError,
    decide,
    rules_from_json,
)
from connector.routing.rule_patterns import RulePattern
from tests.unit.source_specs import source_spec as _spec

BACKTRACKING_TRAPS = [r"(?:a|a)*@x", r"(a|aa)*@x", r"(?:\w|\w)*\w@x", r"((a+))+@x"]


@pytest.mark.parametrize("pattern", BACKTRACKING_TRAPS)
def test_rule_regex_backtracking_trap_answers_correctly_in_microseconds(pattern: str) -> None:
    rule = AddressRule(pattern, "SUP", match="regex")
    started = time.perf_counter()
    for _ in range(100):
        assert rule.matches("a" * 250 + "@x")
        assert not rule.matches("a" * 250 + "@x!")
    assert time.perf_counter() - started < 0.5  # a backtracking engine: years


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"(\w+)\.\1@example\.com", "backreferences"),
        (r"(?P<n>\w+)\.(?P=n)@example\.com", "backreferences"),
        (r"(?!noreply)\w+@example\.com", "lookahead and lookbehind"),
        (r"\w+(?<!bot)@example\.com", "lookahead and lookbehind"),
        (r"(?>\w+)@example\.com", "atomic groups"),
        (r"\w++@example\.com", "possessive repetition"),
        (r"\w+@example\.com\Z", "\\z"),
        (r"[a-z]{0,1000}@example\.com", "too complex"),
        (r"(sales@example\.com", "not a regular expression RE2 accepts: missing )"),
    ],
)
def test_rules_from_json_refuses_what_re2_cannot_run_saying_why(pattern: str, words: str) -> None:
    item = {"match": "regex", "pattern": pattern, "project_key": "SUP"}
    with pytest.raises(RuleError) as caught:
        rules_from_json([{"pattern": "ok@example.com", "project_key": "OK"}, item])
    assert caught.value.field == "address_rules[1].pattern"
    assert words in caught.value.problem


@pytest.mark.parametrize(
    ("pattern", "address", "expected"),
    [
        (r"(sales|quotes)@example\.com", "QUOTES@Example.com", True),  # case-insensitive
        (r"sales@example\.com", "presales@example.com", False),  # the whole address
        (r"\pL+@example\.com", "zoë@example.com", True),  # RE2's Unicode letters
        (r"[a-z0-9._%+-]+@(eu|us)\.example\.com", "a.b+c@us.example.com", True),
    ],
)
def test_rule_regex_re2_reads_addresses(pattern: str, address: str, expected: bool) -> None:
    assert AddressRule(pattern, "SUP", match="regex").matches(address) is expected


def test_rules_from_json_stored_rule_re2_cannot_run_is_kept_and_never_matches() -> None:
    (rule,) = rules_from_json(
        [{"match": "regex", "pattern": r"(?!no)\w+@example\.com", "project_key": "SUP"}],
        stored=True,
    )
    assert rule.unusable is not None and "lookahead" in rule.unusable
    assert not rule.matches("help@example.com")


def test_route_stored_rule_re2_cannot_run_is_noted_and_logged_without_the_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rules = rules_from_json(
        [
            {"match": "regex", "pattern": r"(\w+)\1@example\.com", "project_key": "OLD"},
            {"pattern": "*@example.com", "project_key": "BIL"},
        ],
        stored=True,
    )
    with caplog.at_level(logging.WARNING):
        route = resolve_route(_spec(*rules), [("To", "billing@example.com")])
    assert (route.project_key, route.rule_index) == ("BIL", 1)
    assert "address rule 1 cannot run and counted as no match: uses backreferences" in (
        " ".join(route.trail())
    )
    (record,) = [r for r in caplog.records if "route.rule_unusable" in r.getMessage()]
    assert "rule_index=0" in record.getMessage()
    assert "billing@example.com" not in caplog.text


def _slowest_patterns(count: int) -> list[str]:
    """Patterns as long as allowed whose DFA keeps growing on random a/b addresses, so RE2
    steps through its whole program per character: its worst, about a millisecond a match."""
    patterns = []
    for index in range(count):
        branches = [
            f"[ab]*{'ab'[(index + k) % 2]}[ab]{{{10 + (index + k) % 15}}}" for k in range(40)
        ]
        pattern = "(?:" + "|".join(branches)
        pattern = pattern[: MAX_PATTERN_CHARS - 4].rpartition("|")[0] + ")@x"
        RulePattern(pattern)  # raises if RE2 refuses it or it compiles too large
        assert len(pattern) <= MAX_PATTERN_CHARS
        patterns.append(pattern)
    return patterns


def _hostile_recipients(count: int) -> list[Recipient]:
    rng = random.Random(12)
    local = MAX_ADDRESS_CHARS - len("@y")
    return [
        Recipient("".join(rng.choice("ab") for _ in range(local)) + "@y", "Cc")
        for _ in range(count)
    ]


def test_decide_worst_case_the_limits_allow_ends_within_the_budget() -> None:
    rules = [AddressRule(p, "SUP", match="regex") for p in _slowest_patterns(MAX_RULES)]
    found = _hostile_recipients(MAX_RECIPIENTS)
    started = time.perf_counter()
    decision = decide(found, rules, plus_projects=["OPS"])
    took = time.perf_counter() - started
    assert decision.chosen is None
    assert decision.unread == MAX_RECIPIENTS - MAX_ROUTED_RECIPIENTS
    # Unbounded, this is 20,000 matches of about a millisecond: half a minute of held GIL.
    assert decision.out_of_time
    assert took < ROUTING_BUDGET_SECONDS + 1.0  # the last match started, and a busy machine


def test_decide_many_ordinary_rules_and_recipients_fit_the_budget_easily() -> None:
    pattern = r"(sales|quotes|team{})(\+[a-z0-9]+)?@(eu|us)\.example\.com"
    rules = [
        AddressRule(pattern.format(index), f"P{index}", match="regex") for index in range(MAX_RULES)
    ]
    found = [
        Recipient(f"{'x' * 200}{index}@customer.example", "Cc")
        for index in range(MAX_ROUTED_RECIPIENTS - 1)
    ]
    found.append(Recipient("team199@us.example.com", "Cc"))
    started = time.perf_counter()
    decision = decide(found, rules, plus_projects=["OPS"])
    assert time.perf_counter() - started < ROUTING_BUDGET_SECONDS / 2
    assert not decision.out_of_time
    assert decision.chosen is not None and decision.chosen.project_key == "P199"


def test_route_budget_exceeded_falls_back_with_a_trail_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = _spec(AddressRule(r"billing@example\.com", "BIL", match="regex"))
    with caplog.at_level(logging.WARNING):
        route = resolve_route(spec, [("To", "billing@example.com")], budget_seconds=0.0)
    assert (route.decided_by, route.project_key) == ("source", "SUP")
    assert "address rules stopped after 0 s on this message" in " ".join(route.trail())
    assert any("route.budget_exceeded" in r.getMessage() for r in caplog.records)


def test_route_recipients_past_the_limit_are_not_tried_and_noted() -> None:
    others: list[tuple[str, Any]] = [
        ("Cc", f"person{index}@customer.example") for index in range(MAX_ROUTED_RECIPIENTS)
    ]
    spec = _spec(AddressRule("billing@example.com", "BIL"))
    route = resolve_route(spec, [*others, ("Cc", "billing@example.com")])
    assert route.decided_by == "source"
    assert (
        f"recipients after the first {MAX_ROUTED_RECIPIENTS} were not tried against the "
        "address rules (1 of them)"
    ) in " ".join(route.trail())
