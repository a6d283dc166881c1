"""Where a message goes: a source's address routing applied to its headers -> `Route`.

The pipeline resolves the route first and then uses it in place of the source's own project,
issue type and issue defaults; the email log keeps `Route.to_json()` so an admin sees which
header and rule decided. The matching itself is pure (`connector.routing.addresses`); this
module adds what the source says about each outcome: the rule's defaults merged over the
source's policy, the fallback project, or "ignore".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from connector import logs
from connector.mail_source import SourcePolicy, SourceSpec
from connector.routing.addresses import (
    MAX_ROUTED_RECIPIENTS,
    ROUTING_BUDGET_SECONDS,
    AddressDecision,
    AddressMatch,
    base_address,
    decide,
    recipients,
)

log = logging.getLogger(__name__)

DecidedBy = Literal["plus", "rule", "source", "ignore"]


@dataclass(frozen=True)
class Route:
    """Where new issues of this message go, and which subject keys may thread it."""

    project_key: str
    issue_type: str
    policy: SourcePolicy  # the source's, with the matched rule's defaults over it
    decided_by: DecidedBy
    reason: str  # one line for the trail and the log
    header: str | None = None
    address: str | None = None
    rule_index: int | None = None  # 0-based index into the source's address_rules
    also: tuple[AddressMatch, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ignored(self) -> bool:
        """No rule matched and the source ignores such mail (replies to threads still count)."""
        return self.decided_by == "ignore"

    @property
    def subject_projects(self) -> tuple[str, ...]:
        """Projects whose issue keys in a subject may thread this message."""
        return self.policy.subject_projects or (self.project_key,)

    def trail(self) -> list[str]:
        steps = [f"route: {self.reason}"]
        if self.also:
            others = "; ".join(match.describe() for match in self.also)
            steps.append(f"also addressed to {others}: one issue, in {self.project_key}")
        steps += [f"route: {note}" for note in self.notes]
        return steps

    def to_json(self) -> dict[str, Any]:
        return {
            "decided_by": self.decided_by,
            "project_key": None if self.ignored else self.project_key,
            "issue_type": None if self.ignored else self.issue_type,
            "header": self.header,
            "address": self.address,
            "rule_index": self.rule_index,
            "reason": self.reason,
            "subject_projects": list(self.subject_projects),
            "also": [
                {
                    "project_key": match.project_key,
                    "address": match.recipient.address,
                    "header": match.recipient.header,
                    "rule_index": match.rule_index,
                }
                for match in self.also
            ],
            "notes": list(self.notes),
        }


def is_own_address(spec: SourceSpec, address: str) -> bool:
    """The mailbox's own address, an exact rule's address, or a plus form of either: where
    customers write to us. Such an address in Cc is never a participant to notify nor a JSM
    customer (we would mail ourselves). Domain and regex rules are left out: they may cover
    people, not only service addresses."""
    wanted = address.strip().lower()
    own = {spec.username.lower()} if "@" in spec.username else set()
    own |= {rule.pattern.lower() for rule in spec.address_rules if rule.match == "exact"}
    return wanted in own or base_address(wanted) in own


def own_domains(spec: SourceSpec, *addresses: str) -> set[str]:
    """The domains of our own addresses (the mailbox's, exact rules', and `addresses`, such
    as the outbound From:): mail claiming them that is not authenticated is never trusted."""
    own = [spec.username, *(r.pattern for r in spec.address_rules if r.match == "exact")]
    return {a.rpartition("@")[2].lower() for a in [*own, *addresses] if "@" in a}


def resolve_route(
    spec: SourceSpec,
    headers: Iterable[tuple[str, str]],
    *,
    budget_seconds: float = ROUTING_BUDGET_SECONDS,
) -> Route:
    """The route of a message with these headers (name, value) through this source."""
    source_policy = spec.policy
    if not spec.address_rules and not spec.plus_projects:
        return Route(
            spec.project_key,
            spec.issue_type,
            source_policy,
            "source",
            f"no address rules: the source's project {spec.project_key}",
        )
    found = recipients(headers)
    own = [spec.username] if "@" in spec.username else []
    decision = decide(
        found,
        spec.address_rules,
        plus_projects=spec.plus_projects,
        own_addresses=own,
        budget_seconds=budget_seconds,
    )
    route = _route(spec, decision, has_recipients=bool(found))
    notes = _limit_notes(spec, decision, budget_seconds)
    return replace(route, notes=(*route.notes, *notes)) if notes else route


def _limit_notes(spec: SourceSpec, decision: AddressDecision, budget_seconds: float) -> list[str]:
    """Trail lines for what the bounds on routing left out (never an address: it is the
    sender's choice and personal data, so the log names rule indexes only)."""
    notes = []
    for index in decision.unusable:
        logs.event(log, "route.rule_unusable", logging.WARNING, source=spec.name, rule_index=index)
        notes.append(
            f"address rule {index + 1} cannot run and counted as no match: "
            f"{spec.address_rules[index].unusable}"
        )
    if decision.unread:
        notes.append(
            f"recipients after the first {MAX_ROUTED_RECIPIENTS} were not tried against the "
            f"address rules ({decision.unread} of them)"
        )
    if decision.out_of_time:
        logs.event(log, "route.budget_exceeded", logging.WARNING, source=spec.name)
        notes.append(
            f"address rules stopped after {budget_seconds:g} s on this message: the rules "
            "not tried by then counted as no match"
        )
    return notes


def _route(spec: SourceSpec, decision: AddressDecision, *, has_recipients: bool) -> Route:
    chosen = decision.chosen
    notes = decision.refused
    if chosen is None:
        why = "no address rule matched" if has_recipients else "no recipient address found"
        if spec.unrouted == "ignore":
            return Route(
                spec.project_key,
                spec.issue_type,
                spec.policy,
                "ignore",
                f"{why}; unrouted mail is ignored",
                notes=notes,
            )
        return Route(
            spec.project_key,
            spec.issue_type,
            spec.policy,
            "source",
            f"{why}: the source's project {spec.project_key}",
            notes=notes,
        )
    recipient = chosen.recipient
    where = f"{recipient.header}: {recipient.address}"
    if chosen.rule_index is None:
        # The sender picked the project; the source's issue defaults apply, threading by
        # subject only within that project.
        policy = replace(spec.policy, subject_projects=(chosen.project_key,))
        return Route(
            chosen.project_key,
            spec.issue_type,
            policy,
            "plus",
            f"{where} is a plus address for {chosen.project_key}",
            recipient.header,
            recipient.address,
            also=decision.others,
            notes=notes,
        )
    rule = spec.address_rules[chosen.rule_index]
    overrides = dict(rule.defaults)
    overrides.setdefault("subject_projects", [rule.project_key])
    issue_type = rule.issue_type or spec.issue_type
    return Route(
        rule.project_key,
        issue_type,
        spec.policy.with_overrides(overrides),
        "rule",
        f"{where} matched address rule {chosen.rule_index + 1} ({rule.describe()}) "
        f"-> {rule.project_key} as {issue_type}",
        recipient.header,
        recipient.address,
        chosen.rule_index,
        decision.others,
        notes,
    )
