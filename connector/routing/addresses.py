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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any, Literal, get_args

import regex

RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "X-Forwarded-To", "Envelope-To", "To", "Cc")
RuleKind = Literal["exact", "domain", "regex"]
RULE_KINDS: tuple[str, ...] = get_args(RuleKind)
RULE_KEYS = frozenset({"match", "pattern", "project_key", "issue_type", "defaults"})
MAX_RULES = 200
MAX_PATTERN_CHARS = 320  # the longest address SMTP allows (RFC 5321 4.5.3.1)
MAX_RECIPIENTS = 500  # a Cc list longer than this is not read further

PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")
# A repeated group that itself repeats, e.g. `(a+)+` or `(\w*)*`: the shape behind catastrophic
# backtracking. Rules run in a shared worker, so one tenant's pattern must not stall others.
_NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")
MAX_ADDRESS_CHARS = 254  # RFC 5321 path limit less the brackets: nothing longer is matched
# The shape check above cannot see every slow pattern (`(?:a|a)*@x`), and a sender chooses the
# addresses, so each match of an admin's pattern is bounded in time (the `regex` module's
# timeout; the standard `re` has none). A match that runs out counts as no match.
MATCH_TIMEOUT_SECONDS = 0.05
_PROBE_LIMIT = 200
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
    - `regex`: a Python regular expression matching the whole address, case-insensitive.

    `issue_type` None means the source's. `defaults` are source-policy settings (assignee,
    labels, priority, field mappings...) for this rule's issues, merged over the source's;
    `SourceSpec` checks them, since it knows the policy they merge into.
    """

    pattern: str
    project_key: str
    issue_type: str | None = None
    match: str = ""  # "": domain for a pattern `*@...`, else exact
    defaults: Mapping[str, Any] = field(default_factory=dict)
    _regex: regex.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

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
            if _NESTED_REPEAT.search(pattern):
                raise RuleError(
                    "pattern",
                    "a repeated group with repetition inside, such as (a+)+, can "
                    "take exponential time: rewrite it without the nesting",
                )
            try:
                compiled = regex.compile(pattern, regex.IGNORECASE)
            except (regex.error, ValueError) as exc:
                raise RuleError("pattern", f"not a regular expression: {exc}") from None
            object.__setattr__(self, "_regex", compiled)
        if not PROJECT_KEY.match(self.project_key):
            raise RuleError("project_key", f"{self.project_key!r} is not a Jira project key")
        if self.issue_type is not None and not self.issue_type.strip():
            raise RuleError("issue_type", "must not be empty (null: the source's issue type)")

    def matches(self, address: str) -> bool:
        """Whether `address` matches; raises `RuleTimeout` when a regex ran out of time."""
        address = address.lower()
        if len(address) > MAX_ADDRESS_CHARS:
            return False
        if self.match == "exact":
            wanted = self.pattern.lower()
            return address == wanted or base_address(address) == wanted
        if self.match == "domain":
            return address.rpartition("@")[2] == self.pattern[2:].lower()
        if self._regex is None:
            return False
        try:
            return self._regex.fullmatch(address, timeout=MATCH_TIMEOUT_SECONDS) is not None
        except TimeoutError:
            raise RuleTimeout(self.pattern) from None

    def slow_probe(self) -> bool:
        """True when the pattern runs out of time on an address built to make a backtracking
        engine work hard: long runs of one character, or of the pattern's own literal parts,
        ending in something that does not match. Checked when rules are saved."""
        if self._regex is None:
            return False
        for probe in _probes(self.pattern):
            try:
                self._regex.fullmatch(probe, timeout=MATCH_TIMEOUT_SECONDS)
            except TimeoutError:
                return True
        return False

    def describe(self) -> str:
        return f"regex {self.pattern}" if self.match == "regex" else self.pattern

    def to_json(self) -> dict[str, Any]:
        return {
            "match": self.match,
            "pattern": self.pattern,
            "project_key": self.project_key,
            "issue_type": self.issue_type,
            "defaults": dict(self.defaults),
        }


class RuleTimeout(Exception):
    """A regex rule took longer than `MATCH_TIMEOUT_SECONDS` on one address."""


def _literals(pattern: str) -> list[str]:
    """The runs of plain characters in a pattern (`(?:a|a)*@x` -> `?`, `a`, `a`, `@x`)."""
    runs: list[str] = []
    current = ""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            if escaped.isalnum():  # a class such as \w or \d, not a literal
                runs.append(current)
                current = ""
            else:
                current += escaped
            index += 2
            continue
        if char in "()[]{}|*+?.^$":
            runs.append(current)
            current = ""
        else:
            current += char
        index += 1
    runs.append(current)
    return [run for run in dict.fromkeys(runs) if run]


def _probes(pattern: str) -> list[str]:
    literals = _literals(pattern.lower())
    chars = dict.fromkeys("a0._-@" + "".join(literals))
    tails = dict.fromkeys(["!", "", *(f"{run}!" for run in literals)])
    probes = [char * (MAX_ADDRESS_CHARS - len(tail)) + tail for tail in tails for char in chars]
    probes += [(run * MAX_ADDRESS_CHARS)[: MAX_ADDRESS_CHARS - 1] + "!" for run in literals]
    return list(dict.fromkeys(probes))[:_PROBE_LIMIT]


def refuse_slow_patterns(rules: Sequence[AddressRule], *, name: str = "address_rules") -> None:
    """Raise `RuleError` naming `address_rules[i].pattern` for a regex that runs out of time
    on a hostile address. At save time only: a stored rule is never refused on load."""
    for index, rule in enumerate(rules):
        if rule.slow_probe():
            raise RuleError(
                f"{name}[{index}].pattern",
                "this regular expression takes too long on some addresses (it backtracks "
                "heavily, e.g. an alternation or nested repetition that can match the same "
                "text in many ways): simplify it",
            )


def rules_from_json(items: Any, *, name: str = "address_rules") -> tuple[AddressRule, ...]:
    """A JSON list of rules, type-checked item by item; errors name `address_rules[i].<field>`."""
    if not isinstance(items, list):
        raise RuleError(name, "must be a list of rules")
    if len(items) > MAX_RULES:
        raise RuleError(name, f"at most {MAX_RULES} rules")
    return tuple(_rule(f"{name}[{index}]", item) for index, item in enumerate(items))


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
    timed_out: tuple[int, ...] = ()  # indexes of regex rules that ran out of time: no match


def decide(
    found: Sequence[Recipient],
    rules: Sequence[AddressRule],
    *,
    plus_projects: Iterable[str] = (),
    own_addresses: Iterable[str] = (),
) -> AddressDecision:
    """Plus addressing first (the sender chose the project), then the first rule matched."""
    allowed = set(plus_projects)
    own = {address.lower() for address in own_addresses}
    matches: list[AddressMatch] = []
    refused: list[str] = []
    slow: set[int] = set()  # rules that ran out of time: skipped for the rest of this mail

    def matched(index: int, address: str) -> bool:
        if index in slow:
            return False
        try:
            return rules[index].matches(address)
        except RuleTimeout:
            slow.add(index)
            return False

    for recipient in found if allowed else ():
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
        for recipient in found:
            if recipient.address not in claimed and matched(index, recipient.address):
                matches.append(AddressMatch(recipient, rule.project_key, index))
                claimed.add(recipient.address)
                break
    timed_out = tuple(sorted(slow))
    if not matches:
        return AddressDecision(None, (), tuple(refused), timed_out)
    chosen = matches[0]
    others: dict[str, AddressMatch] = {}
    for match in matches[1:]:
        if match.project_key != chosen.project_key:
            others.setdefault(match.project_key, match)
    return AddressDecision(chosen, tuple(others.values()), tuple(refused), timed_out)
