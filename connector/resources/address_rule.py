"""The address rule, declared once: one entry of a mail source's `address_rules`.

`connector.routing.addresses` reads rules against these settings (its own messages name
`address_rules[i].<setting>`) and writes them back; the OpenAPI `AddressRule` schema is derived
from them. The policy settings a rule may override are declared here too, since both the rule
and the source's policy check them.
"""

from __future__ import annotations

from typing import Literal, get_args

from connector.resources.declare import PROJECT_KEY_PATTERN, Setting

RuleKind = Literal["exact", "domain", "regex"]
RULE_KINDS: tuple[str, ...] = get_args(RuleKind)
MAX_PATTERN_CHARS = 320  # the longest address SMTP allows (RFC 5321 4.5.3.1)
# Where a message's recipients are read from, most reliable first (`connector.routing.addresses`
# says why), and how much of them routing reads: declared here because the mail source's
# `address_rules` schema states these limits.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "X-Forwarded-To", "Envelope-To", "To", "Cc")
MAX_RULES = 200
MAX_ROUTED_RECIPIENTS = 50  # tried against the rules; the most reliable headers come first
# The settings an address rule may set for its project's issues (`AddressRule.defaults`).
RULE_POLICY_SETTINGS = frozenset(
    {
        "subject_projects",
        "default_reporter",
        "default_assignee",
        "labels",
        "priority",
        "language",
        "field_defaults",
        "field_mappings",
    }
)

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "match",
        "string",
        "exact: one address (also its +tag forms); domain: *@example.com; regex: "
        "an RE2 regular expression over the whole address (case-insensitive; no "
        "backreferences or lookaround, as it runs in linear time); "
        "default: domain for *@..., else exact",
        choices=RULE_KINDS,
    ),
    Setting("pattern", "string", required=True, min_length=1, max_length=MAX_PATTERN_CHARS),
    Setting("project_key", "string", required=True, pattern=PROJECT_KEY_PATTERN),
    Setting("issue_type", "string", "null: the source's issue type", nullable=True, min_length=1),
    Setting(
        "defaults",
        "object",
        schema={
            "type": "object",
            "description": "source-policy settings for this rule's issues, over the "
            "source's: " + ", ".join(sorted(RULE_POLICY_SETTINGS)) + "; subject_projects "
            "defaults to the rule's project",
            "properties": {name: {} for name in sorted(RULE_POLICY_SETTINGS)},
            "additionalProperties": False,
        },
    ),
)
