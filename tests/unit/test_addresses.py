"""Address routing: which project a message belongs to by the address it was sent to.

The header sets follow what real forwarding chains write: Gmail forwarding and Workspace
aliases, a Microsoft 365 distribution group, a Postfix virtual alias delivered by Dovecot.
"""

from __future__ import annotations

from typing import Any

import pytest

from connector.mail.message import parse_email
from connector.mail_source import SourceSpec
from connector.pipeline.routes import Route, resolve_route
from connector.routing.addresses import (
    RECIPIENT_HEADERS,
    AddressRule,
    Recipient,
    RuleError,
    decide,
    recipients,
    rules_from_json,
)
from connector.sources.errors import SourceConfigError
from tests.unit.source_specs import source_spec as _spec


def _headers(block: str) -> tuple[tuple[str, str], ...]:
    raw = block.strip().replace("\n", "\r\n") + "\r\n\r\nbody\r\n"
    return parse_email(raw.encode()).headers


def _route(spec: SourceSpec, block: str) -> Route:
    return resolve_route(spec, _headers(block))


# Gmail: support.team@gmail.com forwards everything to the helpdesk mailbox. Gmail adds
# X-Forwarded-To / X-Forwarded-For and a Delivered-To per hop, newest on top.
GMAIL_FORWARD = """
Delivered-To: helpdesk@example.com
Received: by 2002:a05:6a10:a0d1:b0:4b3 with SMTP id x17csp123456pxy;
        Tue, 4 Mar 2025 01:02:03 -0800 (PST)
X-Forwarded-To: helpdesk@example.com
X-Forwarded-For: support.team@gmail.com helpdesk@example.com
Delivered-To: support.team@gmail.com
From: Ada Lovelace <ada@customer.example>
To: Support <support.team@gmail.com>
Subject: Printer on fire
Message-ID: <CAF1@mail.gmail.com>
"""

# Google Workspace: billing@ is an alias of the helpdesk user; Delivered-To names the user.
GMAIL_ALIAS = """
Delivered-To: helpdesk@example.com
Received: by 2002:a05:7000:1234 with SMTP id a1csp99;
        Tue, 4 Mar 2025 02:00:00 -0800 (PST)
From: Bob <bob@customer.example>
To: Billing <billing@example.com>
Subject: Invoice 42
Message-ID: <CAF2@mail.gmail.com>
"""

# Microsoft 365: mail to two distribution groups; Exchange keeps To and Cc and adds no
# Delivered-To, only its own organisation headers.
M365_GROUPS = """
Received: from AM0PR01MB1234.eurprd01.prod.exchangelabs.com (2603:10a6:208::1) by
 AM0PR01MB5678.eurprd01.prod.exchangelabs.com with HTTPS; Tue, 4 Mar 2025 10:00:00 +0000
From: Carol <carol@customer.example>
To: Sales Team <sales@contoso.com>
CC: "Support" <support@contoso.com>, carol+copy@customer.example
Subject: Quote and a problem
Thread-Topic: Quote and a problem
Thread-Index: AQHbjK1234567890abcdef==
Message-ID: <AM0PR01MB1234ABCD@AM0PR01MB1234.eurprd01.prod.exchangelabs.com>
X-MS-Has-Attach:
X-MS-Exchange-Organization-SCL: -1
X-MS-Exchange-Organization-AuthAs: Anonymous
X-MS-Exchange-Organization-ExpandedDistributionListRecipients: 1
"""

# Postfix: ops@example.com is a virtual alias of helpdesk@mail.example.com; the customer wrote
# with Bcc, so only X-Original-To (Postfix, before alias expansion) has the address.
POSTFIX_ALIAS = """
Return-Path: <dave@customer.example>
Delivered-To: helpdesk@mail.example.com
Received: from mx.example.com by imap.example.com with LMTP id abc; Tue, 4 Mar 2025 10:00:00
X-Original-To: ops@example.com
Received: from mail.customer.example (mail.customer.example [192.0.2.7])
	by mx.example.com (Postfix) with ESMTPS id 4Z1;
	Tue, 4 Mar 2025 10:00:00 +0000 (UTC)
From: Dave <dave@customer.example>
To: undisclosed-recipients:;
Subject: Server down
Message-ID: <20250304100000.4Z1@customer.example>
"""


def test_recipients_follow_the_documented_header_order() -> None:
    found = recipients(_headers(POSTFIX_ALIAS))
    assert found == (
        Recipient("helpdesk@mail.example.com", "Delivered-To"),
        Recipient("ops@example.com", "X-Original-To"),
    )
    assert RECIPIENT_HEADERS == (
        "Delivered-To",
        "X-Original-To",
        "X-Forwarded-To",
        "Envelope-To",
        "To",
        "Cc",
    )


def test_recipients_each_address_once_under_its_most_reliable_header() -> None:
    headers = _headers(
        "To: A <A@Example.com>, b@example.com\nEnvelope-To: a@example.com\nCc: b@example.com"
    )
    assert recipients(headers) == (
        Recipient("a@example.com", "Envelope-To"),
        Recipient("b@example.com", "To"),
    )


def test_route_gmail_forward_matches_forwarded_account() -> None:
    rule = AddressRule("support.team@gmail.com", "SUP")
    route = _route(_spec(rule, AddressRule("*@billing.example", "BIL")), GMAIL_FORWARD)
    assert (route.decided_by, route.project_key, route.rule_index) == ("rule", "SUP", 0)
    assert (route.header, route.address) == ("Delivered-To", "support.team@gmail.com")


def test_route_gmail_alias_rewrites_delivered_to_so_to_decides() -> None:
    spec = _spec(
        AddressRule("support@example.com", "SUP"), AddressRule("billing@example.com", "BIL")
    )
    route = _route(spec, GMAIL_ALIAS)
    assert (route.project_key, route.header, route.address) == ("BIL", "To", "billing@example.com")
    assert route.reason.startswith("To: billing@example.com matched address rule 2")


def test_route_m365_two_groups_first_rule_wins_and_the_other_is_named() -> None:
    sales = AddressRule("sales@contoso.com", "SAL", "Sales lead")
    support = AddressRule("*@contoso.com", "SUP")
    route = _route(_spec(sales, support), M365_GROUPS)
    assert (route.project_key, route.issue_type) == ("SAL", "Sales lead")
    assert [(m.project_key, m.recipient.address, m.recipient.header) for m in route.also] == [
        ("SUP", "support@contoso.com", "Cc")
    ]
    assert "also addressed to support@contoso.com (Cc, address rule 2) -> SUP" in route.trail()[1]
    # The admin's order decides, not the order of the addresses in the message.
    reversed_route = _route(_spec(AddressRule("support@contoso.com", "SUP"), sales), M365_GROUPS)
    assert reversed_route.project_key == "SUP"
    assert [m.project_key for m in reversed_route.also] == ["SAL"]


def test_route_postfix_virtual_alias_found_only_in_envelope_headers() -> None:
    catch_all = AddressRule(r".*@mail\.example\.com", "INB", match="regex")
    route = _route(_spec(AddressRule("ops@example.com", "OPS"), catch_all), POSTFIX_ALIAS)
    # The mailbox's own Delivered-To matches the catch-all, but the earlier rule wins.
    assert (route.project_key, route.header) == ("OPS", "X-Original-To")
    assert [m.project_key for m in route.also] == ["INB"]


def test_route_postfix_x_original_to_credited_before_to() -> None:
    block = POSTFIX_ALIAS.replace("To: undisclosed-recipients:;", "To: ops@example.com")
    route = _route(_spec(AddressRule("ops@example.com", "OPS")), block)
    assert (route.project_key, route.header) == ("OPS", "X-Original-To")


def test_route_no_rule_matched_falls_back_to_source_project() -> None:
    route = _route(_spec(AddressRule("billing@example.com", "BIL")), POSTFIX_ALIAS)
    assert (route.decided_by, route.project_key, route.issue_type) == ("source", "SUP", "Task")
    assert route.policy == _spec().policy
    assert route.reason == "no address rule matched: the source's project SUP"


def test_route_no_rule_matched_ignored_when_admin_chose_ignore() -> None:
    spec = _spec(AddressRule("billing@example.com", "BIL"), unrouted="ignore")
    route = _route(spec, POSTFIX_ALIAS)
    assert route.ignored and route.to_json()["project_key"] is None
    assert route.reason == "no address rule matched; unrouted mail is ignored"


def test_route_without_rules_is_the_source_as_before() -> None:
    route = _route(_spec(), GMAIL_ALIAS)
    assert (route.decided_by, route.project_key, route.subject_projects) == (
        "source",
        "SUP",
        ("SUP",),
    )


def test_route_rule_defaults_merge_over_source_policy() -> None:
    rule = AddressRule(
        "billing@example.com",
        "BIL",
        "Invoice",
        defaults={
            "labels": ["billing"],
            "priority": "High",
            "default_assignee": "acc-bil",
            "field_mappings": [{"source": "sender", "field_id": "customfield_1"}],
            "field_defaults": {"customfield_2": "EU"},
        },
    )
    route = _route(_spec(rule, AddressRule("other@example.com", "OTH")), GMAIL_ALIAS)
    policy = route.policy
    assert (route.project_key, route.issue_type) == ("BIL", "Invoice")
    assert (policy.labels, policy.priority, policy.default_assignee) == (
        ("billing",),
        "High",
        "acc-bil",
    )
    assert [(m.source, m.field_id) for m in policy.field_mappings] == [("sender", "customfield_1")]
    assert dict(policy.field_defaults) == {"customfield_2": "EU"}
    assert route.subject_projects == ("BIL",)  # keys of other projects do not thread here
    # What the rule leaves out comes from the source.
    plain = _route(_spec(AddressRule("billing@example.com", "BIL")), GMAIL_ALIAS)
    assert (plain.policy.labels, plain.policy.default_assignee) == (("email",), "acc-sup")
    assert plain.issue_type == "Task"


def test_route_rule_may_allow_subject_keys_of_other_projects() -> None:
    rule = AddressRule("billing@example.com", "BIL", defaults={"subject_projects": ["BIL", "FIN"]})
    assert _route(_spec(rule), GMAIL_ALIAS).subject_projects == ("BIL", "FIN")


# -- plus addressing ---------------------------------------------------------------------------


def test_plus_address_on_allow_list_routes_to_its_project() -> None:
    spec = _spec(AddressRule("support@example.com", "SUP"), plus_projects=("OPS", "HR"))
    route = _route(spec, "From: a@customer.example\nTo: helpdesk+ops@example.com")
    assert (route.decided_by, route.project_key, route.header) == ("plus", "OPS", "To")
    assert route.subject_projects == ("OPS",)
    # A rule's address with a tag is ours too.
    route = _route(spec, "From: a@customer.example\nTo: support+HR@example.com")
    assert (route.decided_by, route.project_key) == ("plus", "HR")


def test_plus_address_not_on_allow_list_cannot_pick_a_project() -> None:
    spec = _spec(AddressRule("support@example.com", "SUP"), plus_projects=("OPS",))
    route = _route(spec, "From: a@customer.example\nTo: support+PAY@example.com")
    # The tag is refused; the address is still support@'s (an exact rule takes sub-addresses).
    assert (route.decided_by, route.project_key) == ("rule", "SUP")
    assert route.notes == (
        "support+pay@example.com names PAY, which is not on the plus-address allow-list",
    )


def test_plus_address_of_a_customer_in_cc_routes_nothing() -> None:
    spec = _spec(AddressRule("support@example.com", "SUP"), plus_projects=("OPS",))
    route = _route(
        spec, "From: a@customer.example\nTo: support@example.com\nCc: a+OPS@customer.example"
    )
    assert (route.decided_by, route.project_key, route.notes) == ("rule", "SUP", ())


def test_plus_addressing_without_rules_uses_the_mailbox_address() -> None:
    spec = _spec(plus_projects=("OPS",))
    assert _route(spec, "To: helpdesk+OPS@example.com").project_key == "OPS"
    assert _route(spec, "To: helpdesk@example.com").decided_by == "source"


def test_decide_plus_address_wins_over_rules_and_names_the_rule_project() -> None:
    found = (Recipient("sup+OPS@example.com", "To"), Recipient("billing@example.com", "Cc"))
    rules = (AddressRule("billing@example.com", "BIL"), AddressRule("sup@example.com", "SUP"))
    decision = decide(found, rules, plus_projects=("OPS",))
    assert decision.chosen is not None and decision.chosen.project_key == "OPS"
    assert [m.project_key for m in decision.others] == ["BIL"]  # sup+OPS@ is taken


# -- matching and validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "address", "expected"),
    [
        (AddressRule("Support@Example.com", "SUP"), "support@example.com", True),
        (AddressRule("support@example.com", "SUP"), "support+urgent@example.com", True),
        (AddressRule("support@example.com", "SUP"), "support@example.com.evil", False),
        (AddressRule("*@example.com", "SUP", match="domain"), "anyone@EXAMPLE.com", True),
        (AddressRule("*@example.com", "SUP", match="domain"), "x@sub.example.com", False),
        (
            AddressRule(r"(sales|quotes)@example\.com", "SAL", match="regex"),
            "quotes@example.com",
            True,
        ),
        (AddressRule(r"sales@example\.com", "SAL", match="regex"), "presales@example.com", False),
    ],
)
def test_rule_matches(rule: AddressRule, address: str, expected: bool) -> None:
    assert rule.matches(address) is expected


@pytest.mark.parametrize(
    ("item", "field", "problem"),
    [
        ({"match": "regex", "pattern": "(", "project_key": "SUP"}, "pattern", "regular expression"),
        ({"pattern": "a@example.com", "project_key": "sup"}, "project_key", "project key"),
        ({"match": "regex", "pattern": r"(a)\1@x", "project_key": "SUP"}, "pattern", "RE2"),
        ({"pattern": "a@example.com", "project_key": "SUP", "match": "glob"}, "match", "exact"),
        ({"match": "domain", "pattern": "example.com", "project_key": "SUP"}, "pattern", "*@"),
        ({"pattern": "not an address", "project_key": "SUP"}, "pattern", "email address"),
        ({"pattern": "a@example.com", "project_key": "SUP", "issue_type": " "}, "issue_type", ""),
        ({"pattern": "a@example.com", "project_key": "SUP", "colour": 1}, "colour", "not a"),
        ({"project_key": "SUP"}, "pattern", "required"),
        ({"pattern": "a@example.com", "project_key": "SUP", "defaults": []}, "defaults", "object"),
    ],
)
def test_rules_from_json_errors_name_the_field(
    item: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(RuleError) as caught:
        rules_from_json([{"pattern": "ok@example.com", "project_key": "OK"}, item])
    assert caught.value.field == f"address_rules[1].{field}"
    assert problem in caught.value.problem


def test_rules_from_json_round_trips_and_infers_domain_match() -> None:
    rules = rules_from_json([{"pattern": "*@example.com", "project_key": "SUP"}])
    assert rules[0].match == "domain"
    assert rules_from_json([rule.to_json() for rule in rules]) == rules


def test_rules_from_json_not_a_list_refused() -> None:
    with pytest.raises(RuleError, match="address_rules: must be a list"):
        rules_from_json({"pattern": "a@example.com"})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {
                "address_rules": (
                    AddressRule("a@x.example", "A", defaults={"labels": ["two words"]}),
                )
            },
            "address_rules[0].defaults.labels",
        ),
        (
            {
                "address_rules": (
                    AddressRule("a@x.example", "A", defaults={"drop_automatic": False}),
                )
            },
            "address_rules[0].defaults.drop_automatic",
        ),
        ({"plus_projects": ("ops",)}, "plus_projects"),
        ({"unrouted": "elsewhere"}, "unrouted"),
        ({"unrouted": "ignore"}, "unrouted"),  # no rules: all mail would be ignored
    ],
)
def test_source_spec_routing_errors_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(SourceConfigError) as caught:
        _spec(**changes)
    assert caught.value.field == field
