"""Which project does a message belong to, by the address it was sent to? Pure: headers in,
decision out.

One mailbox often receives mail for many addresses (`support@`, `billing@`, `sup+OPS@`) through
aliases and forwarding, and those rewrite or hide `To`. So the candidates are read from the
headers that carry the real recipient, in this fixed order, most reliable first:

    Delivered-To, X-Original-To, X-Forwarded-To, Envelope-To, To, Cc

(`Delivered-To`: set by the delivering MTA or Gmail per hop, RFC 9228; `X-Original-To`: Postfix's
recipient before virtual-alias expansion; `X-Forwarded-To`: Gmail forwarding; `Envelope-To`:
Exim's envelope recipient.) Then, in this order:

1. Plus addressing: `local+KEY@domain` names project KEY when KEY is on the source's allow-list
   and `local@domain` is one of our addresses (the mailbox's own, or one a rule matches), so
   neither a customer's own plus address in `Cc` nor an arbitrary key can pick a project.
2. The address rules, in the admin's order: the first rule that any candidate matches wins.
   The header credited is the first one, in the order above, whose address matched.
Every other project the message was also addressed to is reported, so the log can name them:
one message makes one issue, however many of our addresses it was sent to.

The work is bounded, since a sender chooses the addresses: regex rules run on RE2, linear in
the address (`connector.routing.rule_patterns`); at most `MAX_ROUTED_RECIPIENTS` recipients, the
first in the order above, are tried against the rules (with `MAX_RULES`, at most 20,000 matches
of a few microseconds); and matching stops when one message has used `ROUTING_BUDGET_SECONDS`,
the backstop for patterns RE2 runs slowly. Either limit is reported with the decision.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any

from connector.resources.address_rule import (
    MAX_PATTERN_CHARS,
    MAX_ROUTED_RECIPIENTS,
    MAX_RULES,
    RECIPIENT_HEADERS,
    RULE_KINDS,
    RuleKind,
)
from connector.resources.address_rule import SETTINGS as RULE_SETTINGS
from connector.resources.declare import PROJECT_KEY_PATTERN, names
from connector.routing.rule_patterns import PatternError, RulePattern

__all__ = [
    "MAX_PATTERN_CHARS",
    "MAX_ROUTED_RECIPIENTS",
    "MAX_RULES",
    "RECIPIENT_HEADERS",
    "RULE_KINDS",
    "AddressRule",
    "RuleKind",
    "rules_from_json",
]

_RULE_NAMES = names(RULE_SETTINGS)
RULE_KEYS = frozenset(_RULE_NAMES)
MAX_RECIPIENTS = 500  # a Cc list longer than this is not read further
ROUTING_BUDGET_SECONDS = 0.5  # rule matching for one message; the rest count as no match

PROJECT_KEY = re.compile(PROJECT_KEY_PATTERN)
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_ADDRESS_CHARS = 254  # RFC 5321 path limit less the brackets: nothing longer is matched
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9-]{1,63})*$")


class RuleError(ValueError):
    """A rule that cannot work; `field` names it as the admin API spells it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class AddressRule:
    """`pattern` -> project. `match` says how the pattern reads:

    - `exact`: one address, case-insensitive; `support@x` also matches `support+tag@x`
      (RFC 5233 sub-addresses arrive in the same mailbox);
    - `domain`: `*@example.com`, every address of exactly that domain;
    - `regex`: an RE2 regular expression matching the whole address, case-insensitive
      (`connector.routing.rule_patterns`).

    `issue_type` None means the source's. `defaults` are source-policy settings (assignee,
    labels, priority, field mappings...) for this rule's issues, merged over the source's;
    `SourceSpec` checks them, since it knows the policy they merge into.

    `unusable` says why RE2 cannot run a regex pattern. `rules_from_json` refuses such a
    pattern from an admin; a stored one (saved before rules ran on RE2) is kept, so its source
    still loads, and never matches: `decide` reports it.
    """

    pattern: str
    project_key: str
    issue_type: str | None = None
    match: str = ""  # "": domain for a pattern `*@...`, else exact
    defaults: Mapping[str, Any] = field(default_factory=dict)
    unusable: str | None = field(default=None, init=False, compare=False)
    _pattern: RulePattern | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.match:
            object.__setattr__(
                self, "match", "domain" if self.pattern.startswith("*@") else "exact"
            )
        if self.match not in RULE_KINDS:
            raise RuleError("match", f"{self.match!r} is not one of {', '.join(RULE_KINDS)}")
        pattern = self.pattern
        if not pattern.strip() or len(pattern) > MAX_PATTERN_CHARS:
            raise RuleError("pattern", f"is required (at most {MAX_PATTERN_CHARS} characters)")
        if self.match == "exact" and (not _ADDRESS.match(pattern) or "*" in pattern):
            raise RuleError("pattern", f"{pattern!r} is not an email address (name@domain)")
        if self.match == "domain":
            domain = pattern.removeprefix("*@")
            if not pattern.startswith("*@") or not _DOMAIN.match(domain.lower()):
                raise RuleError("pattern", f"{pattern!r}: a domain rule reads *@example.com")
        if self.match == "regex":
            try:
                object.__setattr__(self, "_pattern", RulePattern(pattern))
            except PatternError as exc:
                object.__setattr__(self, "unusable", exc.problem)
        if not PROJECT_KEY.match(self.project_key):
            raise RuleError("project_key", f"{self.project_key!r} is not a Jira project key")
        if self.issue_type is not None and not self.issue_type.strip():
            raise RuleError("issue_type", "must not be empty (null: the source's issue type)")

    def matches(self, address: str) -> bool:
        """Whether `address` matches: linear in its length, whatever the pattern."""
        address = address.lower()
        if len(address) > MAX_ADDRESS_CHARS:
            return False
        if self.match == "exact":
            wanted = self.pattern.lower()
            return address == wanted or base_address(address) == wanted
        if self.match == "domain":
            return address.rpartition("@")[2] == self.pattern[2:].lower()
        return self._pattern is not None and self._pattern.fullmatch(address)

    def describe(self) -> str:
        return f"regex {self.pattern}" if self.match == "regex" else self.pattern

    def to_json(self) -> dict[str, Any]:
        found = {name: getattr(self, name) for name in _RULE_NAMES}
        return {**found, "defaults": dict(self.defaults)}


def rules_from_json(
    items: Any, *, name: str = "address_rules", stored: bool = False
) -> tuple[AddressRule, ...]:
    """A JSON list of rules, type-checked item by item; errors name `address_rules[i].<field>`.

    A regex RE2 cannot run is refused, unless the rules are `stored` ones read back: a rule
    saved before rules ran on RE2 must not stop its source from loading (see `AddressRule`).
    """
    if not isinstance(items, list):
        raise RuleError(name, "must be a list of rules")
    if len(items) > MAX_RULES:
        raise RuleError(name, f"at most {MAX_RULES} rules")
    rules = tuple(_rule(f"{name}[{index}]", item) for index, item in enumerate(items))
    for index, rule in enumerate(rules):
        if rule.unusable is not None and not stored:
            raise RuleError(f"{name}[{index}].pattern", rule.unusable)
    return rules


def _rule(name: str, item: Any) -> AddressRule:
    if not isinstance(item, dict):
        raise RuleError(name, "must be an object")
    unknown = sorted(set(item) - RULE_KEYS)
    if unknown:
        raise RuleError(f"{name}.{unknown[0]}", "is not a setting of an address rule")
    for key in ("pattern", "project_key"):
        if not isinstance(item.get(key), str):
            raise RuleError(f"{name}.{key}", "is required (a string)")
    issue_type = item.get("issue_type")
    if issue_type is not None and not isinstance(issue_type, str):
        raise RuleError(f"{name}.issue_type", "must be a string or null")
    pattern = str(item["pattern"])
    match = item.get("match") or ""
    if not isinstance(match, str):
        raise RuleError(f"{name}.match", f"must be one of {', '.join(RULE_KINDS)}")
    defaults = item.get("defaults")
    defaults = {} if defaults is None else defaults
    if not isinstance(defaults, dict):
        raise RuleError(f"{name}.defaults", "must be an object")
    try:
        return AddressRule(pattern, item["project_key"], issue_type, match, defaults)
    except RuleError as exc:
        raise RuleError(f"{name}.{exc.field}", exc.problem) from None


@dataclass(frozen=True)
class Recipient:
    address: str  # lower-cased
    header: str  # as spelt in RECIPIENT_HEADERS


def recipients(headers: Iterable[tuple[str, str]]) -> tuple[Recipient, ...]:
    """Every address in the recipient headers, in `RECIPIENT_HEADERS` order, each once (under
    the most reliable header that carries it)."""
    canonical = {name.lower(): name for name in RECIPIENT_HEADERS}
    values: dict[str, list[str]] = {name: [] for name in RECIPIENT_HEADERS}
    for name, value in headers:
        header = canonical.get(name.strip().lower())
        if header is not None:
            values[header].append(value)
    found: dict[str, Recipient] = {}
    for header in RECIPIENT_HEADERS:
        for _, address in getaddresses(values[header]):
            address = address.strip().strip("<>").lower()
            if _ADDRESS.match(address) and address not in found:
                found[address] = Recipient(address, header)
            if len(found) >= MAX_RECIPIENTS:
                return tuple(found.values())
    return tuple(found.values())


def base_address(address: str) -> str:
    """`local@domain` of `local+tag@domain` (RFC 5233), or the address itself."""
    local, at, domain = address.rpartition("@")
    return f"{local.partition('+')[0]}{at}{domain}" if "+" in local else address


def plus_key(address: str) -> str | None:
    """The tag of `local+tag@domain`, upper-cased, when it reads as a project key."""
    local = address.rpartition("@")[0]
    if "+" not in local:
        return None
    tag = local.partition("+")[2].upper()
    return tag if PROJECT_KEY.match(tag) else None


@dataclass(frozen=True)
class AddressMatch:
    recipient: Recipient
    project_key: str
    rule_index: int | None  # None: plus addressing

    def describe(self) -> str:
        how = "plus address" if self.rule_index is None else f"address rule {self.rule_index + 1}"
        return f"{self.recipient.address} ({self.recipient.header}, {how}) -> {self.project_key}"


@dataclass(frozen=True)
class AddressDecision:
    chosen: AddressMatch | None
    others: tuple[AddressMatch, ...] = ()  # other projects also addressed, one match each
    refused: tuple[str, ...] = ()  # plus addresses naming a project not on the allow-list
    unusable: tuple[int, ...] = ()  # indexes of regex rules RE2 cannot run: no match
    unread: int = 0  # recipients past MAX_ROUTED_RECIPIENTS, not tried against the rules
    out_of_time: bool = False  # the budget ran out: the rules not tried by then did not match


def decide(
    found: Sequence[Recipient],
    rules: Sequence[AddressRule],
    *,
    plus_projects: Iterable[str] = (),
    own_addresses: Iterable[str] = (),
    budget_seconds: float = ROUTING_BUDGET_SECONDS,
) -> AddressDecision:
    """Plus addressing first (the sender chose the project), then the first rule matched.

    Each rule is tried over all recipients before the next, so when `budget_seconds` runs
    out, a rule that matched by then is still the first rule that matches; whatever was not
    tried by then counts as no match.
    """
    allowed = set(plus_projects)
    own = {address.lower() for address in own_addresses}
    tried = found[:MAX_ROUTED_RECIPIENTS]
    matches: list[AddressMatch] = []
    refused: list[str] = []
    known: dict[tuple[int, str], bool] = {}  # the plus pass may ask what the rule pass asks
    deadline = time.monotonic() + budget_seconds
    out_of_time = False

    def matched(index: int, address: str) -> bool:
        nonlocal out_of_time
        if (index, address) not in known:
            out_of_time = out_of_time or time.monotonic() >= deadline
            if out_of_time:
                return False
            known[index, address] = rules[index].matches(address)
        return known[index, address]

    for recipient in tried if allowed else ():
        key = plus_key(recipient.address)
        base = base_address(recipient.address)
        if key is None or not (
            base in own or any(matched(index, base) for index in range(len(rules)))
        ):
            continue
        if key in allowed:
            matches.append(AddressMatch(recipient, key, None))
        else:
            refused.append(
                f"{recipient.address} names {key}, which is not on the plus-address allow-list"
            )
    # Each address belongs to the first rule it matches: a catch-all further down does not
    # report again an address an earlier rule took.
    claimed = {match.recipient.address for match in matches}
    for index, rule in enumerate(rules):
        for recipient in tried:
            if recipient.address not in claimed and matched(index, recipient.address):
                matches.append(AddressMatch(recipient, rule.project_key, index))
                claimed.add(recipient.address)
                break
    unusable = tuple(index for index, rule in enumerate(rules) if rule.unusable is not None)
    chosen = matches[0] if matches else None
    others: dict[str, AddressMatch] = {}
    for match in matches[1:]:
        if match.project_key != matches[0].project_key:
            others.setdefault(match.project_key, match)
    return AddressDecision(
        chosen,
        tuple(others.values()),
        tuple(refused),
        unusable,
        unread=len(found) - len(tried),
        out_of_time=out_of_time,
    )
