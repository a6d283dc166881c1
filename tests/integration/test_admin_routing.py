"""Address routing through the admin API: rules edited with the source, their validation, the
route check ("which rule would this mail match"), a project's feeds, and tenant isolation."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from connector.routing.match import message_id_digest
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import AdminApi, make_admin_api, source_body
from tests.integration.conftest import RunningApp
from tests.integration.test_admin_openapi import _check

RULES: list[dict[str, Any]] = [
    {
        "pattern": "billing@example.com",
        "project_key": "BIL",
        "issue_type": "Bug",
        "defaults": {"labels": ["billing"], "priority": "High"},
    },
    {"pattern": "*@partners.example.com", "project_key": "PRT"},
    {"match": "regex", "pattern": r"(sales|quotes)@example\.com", "project_key": "SAL"},
]

POSTFIX_HEADERS = """Return-Path: <dave@customer.example>
Delivered-To: helpdesk@mail.example.com
X-Original-To: billing@example.com
From: Dave <dave@customer.example>
To: undisclosed-recipients:;
Cc: quotes@example.com
Subject: Invoice 42
Message-ID: <inv-42@customer.example>
"""


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def _with_projects(api: AdminApi) -> AdminApi:
    for key in ("BIL", "PRT", "SAL", "OPS", "HR"):
        api.jira.add_project(key, f"Project {key}", issue_types=("Task", "Bug"))
    return api


@pytest.fixture
def api(running_app: RunningApp, fake_jira: FakeJira) -> AdminApi:
    return _with_projects(make_admin_api(running_app, fake_jira))


@pytest.fixture
def other_site(api: AdminApi) -> Iterator[AdminApi]:
    with FakeJira(app_key="mail-connector", key_server=api.jira.key_server) as other:
        yield _with_projects(make_admin_api(api.app, other))


@pytest.fixture
def source(api: AdminApi) -> dict[str, Any]:
    return api.create(address_rules=RULES, plus_projects=["OPS"], unrouted="source")


def _check_route(api: AdminApi, source_id: int, **body: Any) -> dict[str, Any]:
    response = api.call("POST", f"/mail-sources/{source_id}/route-check", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    _check("RouteCheckResult", answer)
    return answer


# -- rules edited with the source -----------------------------------------------------------


def test_rules_saved_with_source_and_read_back(api: AdminApi, source: dict[str, Any]) -> None:
    _check("MailSource", source)
    assert [(r["match"], r["pattern"], r["project_key"]) for r in source["address_rules"]] == [
        ("exact", "billing@example.com", "BIL"),
        ("domain", "*@partners.example.com", "PRT"),
        ("regex", r"(sales|quotes)@example\.com", "SAL"),
    ]
    assert source["address_rules"][0]["defaults"] == {"labels": ["billing"], "priority": "High"}
    assert source["address_rules"][1]["issue_type"] is None
    assert (source["plus_projects"], source["unrouted"]) == (["OPS"], "source")
    read = api.call("GET", f"/mail-sources/{source['id']}").json()
    assert read["address_rules"] == source["address_rules"]


def test_rules_replaced_by_put_and_order_kept(api: AdminApi, source: dict[str, Any]) -> None:
    body = {k: v for k, v in source.items() if k in _SETTINGS}
    body["address_rules"] = [RULES[2], RULES[0]]
    body["unrouted"] = "ignore"
    response = api.call("PUT", f"/mail-sources/{source['id']}", json=body)
    assert response.status_code == 200, response.text
    saved = api.app.runtime.sources.get(api.tenant_id, source["id"])
    assert saved is not None
    assert [rule.project_key for rule in saved.spec.address_rules] == ["SAL", "BIL"]
    assert saved.spec.unrouted == "ignore"
    # Without the routing settings, a PUT leaves none (PUT replaces every setting).
    body = {k: v for k, v in body.items() if k not in ("address_rules", "plus_projects")}
    body["unrouted"] = "source"
    cleared = api.call("PUT", f"/mail-sources/{source['id']}", json=body).json()
    assert (cleared["address_rules"], cleared["plus_projects"]) == ([], [])


_SETTINGS = {
    "name",
    "host",
    "username",
    "project_key",
    "issue_type",
    "address_rules",
    "plus_projects",
    "unrouted",
}


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        (
            {"address_rules": [{"match": "regex", "pattern": "(a", "project_key": "SUP"}]},
            "address_rules[0].pattern",
            "not a regular expression",
        ),
        (
            {
                "address_rules": [
                    RULES[0],
                    {"match": "regex", "pattern": r"(?<!no)reply@x", "project_key": "SUP"},
                ]
            },
            "address_rules[1].pattern",
            "uses lookahead and lookbehind",
        ),
        (
            {"address_rules": [RULES[0], {"pattern": "x@example.com", "project_key": "bil"}]},
            "address_rules[1].project_key",
            "not a Jira project key",
        ),
        (
            {
                "address_rules": [
                    {"pattern": "example.com", "project_key": "SUP", "match": "domain"}
                ]
            },
            "address_rules[0].pattern",
            "*@example.com",
        ),
        (
            {"address_rules": [{**RULES[0], "defaults": {"labels": "billing"}}]},
            "address_rules[0].defaults.labels",
            "a list of strings",
        ),
        (
            {"address_rules": [{**RULES[0], "defaults": {"ignored_senders": ["x"]}}]},
            "address_rules[0].defaults.ignored_senders",
            "may set only",
        ),
        (
            {"address_rules": [{**RULES[0], "when": "always"}]},
            "address_rules[0].when",
            "not a setting",
        ),
        ({"address_rules": {"pattern": "a@example.com"}}, "address_rules", "a list"),
        ({"plus_projects": ["ops"]}, "plus_projects", "project key"),
        ({"plus_projects": "OPS"}, "plus_projects", "a list of strings"),
        ({"unrouted": "ignore"}, "unrouted", "all mail is ignored"),
        ({"unrouted": "drop"}, "unrouted", "source or ignore"),
    ],
)
def test_rules_invalid_answer_400_naming_the_field(
    api: AdminApi, overrides: dict[str, Any], field: str, words: str
) -> None:
    response = api.call("POST", "/mail-sources", json=source_body(**overrides))
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["field"] == field
    assert words in error["error"]
    assert api.call("GET", "/mail-sources").json() == {"sources": []}


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        (
            {"address_rules": [RULES[0], {"pattern": "x@example.com", "project_key": "NOPE"}]},
            "address_rules[1].project_key",
            "Jira has no project NOPE",
        ),
        (
            {"address_rules": [{**RULES[0], "issue_type": "Epic"}]},
            "address_rules[0].issue_type",
            "BIL has no issue type 'Epic'",
        ),
        (
            {"address_rules": [{**RULES[0], "defaults": {"field_defaults": {"cf_9": "x"}}}]},
            "address_rules[0].defaults.field_defaults",
            "Jira has no field cf_9",
        ),
        ({"plus_projects": ["OPS", "GONE"]}, "plus_projects", "Jira has no project GONE"),
    ],
)
def test_rules_checked_against_jira_when_saved(
    api: AdminApi, overrides: dict[str, Any], field: str, words: str
) -> None:
    response = api.call("POST", "/mail-sources", json=source_body(**overrides))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert words in response.json()["error"]


# -- route check ----------------------------------------------------------------------------


def test_route_check_pasted_headers_answers_rule_and_trail(
    api: AdminApi, source: dict[str, Any]
) -> None:
    answer = _check_route(api, source["id"], headers=POSTFIX_HEADERS)
    route = answer["route"]
    assert (route["decided_by"], route["project_key"], route["issue_type"]) == (
        "rule",
        "BIL",
        "Bug",
    )
    assert (route["header"], route["address"], route["rule_index"]) == (
        "X-Original-To",
        "billing@example.com",
        0,
    )
    assert route["also"] == [
        {"project_key": "SAL", "address": "quotes@example.com", "header": "Cc", "rule_index": 2}
    ]
    assert answer["outcome"] == "create"
    assert answer["reason"] == "create an issue in BIL as Bug"
    assert answer["trail"][1].startswith("route: X-Original-To: billing@example.com matched")
    assert answer["recipients"][0] == {
        "address": "helpdesk@mail.example.com",
        "header": "Delivered-To",
    }
    assert answer["message"] == {
        "sender": "dave@customer.example",
        "subject": "Invoice 42",
        "message_id": "inv-42@customer.example",
    }


def test_route_check_eml_reply_to_known_thread_answers_comment(
    api: AdminApi, source: dict[str, Any]
) -> None:
    api.app.runtime.threads.remember(
        api.tenant_id, message_id_digest("orig@customer.example"), "SUP-7", "inbound"
    )
    eml = (
        b"From: dave@customer.example\r\nTo: someone-else@example.com\r\n"
        b"Subject: Re: hello\r\nIn-Reply-To: <orig@customer.example>\r\n\r\nThanks!\r\n"
    )
    answer = _check_route(api, source["id"], eml=base64.b64encode(eml).decode())
    assert (answer["outcome"], answer["issue_key"]) == ("comment", "SUP-7")
    assert answer["thread"]["via"] == "In-Reply-To"
    # What agents would read: the comment's text, as Jira shows it (no ADF in the answer).
    view = answer["preview"]
    assert view["reply"]["text"].strip() == "Thanks!"
    assert "adf" not in view["reply"] and "adf" not in view["description"]
    assert view["to"] == [{"address": "someone-else@example.com", "name": ""}]
    assert view["classification"]["kind"] == "human"
    assert answer["route"]["decided_by"] == "source"  # no rule, yet the thread wins


def test_route_check_tries_edited_rules_without_saving(
    api: AdminApi, source: dict[str, Any]
) -> None:
    edited = [{"pattern": "billing@example.com", "project_key": "FIN"}]
    answer = _check_route(
        api, source["id"], headers=POSTFIX_HEADERS, address_rules=edited, plus_projects=[]
    )
    assert answer["route"]["project_key"] == "FIN"
    stored = api.call("GET", f"/mail-sources/{source['id']}").json()
    assert stored["address_rules"][0]["project_key"] == "BIL"
    ignored = _check_route(
        api, source["id"], headers="To: nobody@example.com", address_rules=edited, unrouted="ignore"
    )
    assert (ignored["outcome"], ignored["route"]["decided_by"]) == ("ignored", "ignore")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, None),  # no body at all
        ({"subject": "x"}, "subject"),
        ({"headers": "To: a@example.com", "eml": "VG86IGFAZXhhbXBsZS5jb20="}, "headers"),
        ({"eml": "not base64!"}, "eml"),
        ({"headers": "  "}, "headers"),
        (
            {"headers": "To: a@example.com", "address_rules": [{"pattern": "("}]},
            "address_rules[0].project_key",
        ),
        ({"headers": "To: a@example.com", "unrouted": 3}, "unrouted"),
    ],
)
def test_route_check_bad_input_answers_400(
    api: AdminApi, source: dict[str, Any], body: dict[str, Any], field: str | None
) -> None:
    response = api.call(
        "POST", f"/mail-sources/{source['id']}/route-check", json=body if body else None
    )
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field


def test_route_check_unknown_source_answers_404(api: AdminApi) -> None:
    response = api.call("POST", "/mail-sources/4242/route-check", json={"headers": "To: a@b.c"})
    assert response.status_code == 404


# -- feeds ----------------------------------------------------------------------------------


def test_project_feeds_lists_sources_and_addresses_with_state(
    api: AdminApi, source: dict[str, Any]
) -> None:
    plain = api.create(name="Old inbox", username="old@example.com", project_key="BIL")
    api.create(name="Unrelated", project_key="HR")
    response = api.call("GET", "/projects/BIL/feeds")
    assert response.status_code == 200
    answer = response.json()
    _check("ProjectFeeds", answer)
    feeds = {feed["source_name"]: feed for feed in answer["feeds"]}
    assert set(feeds) == {"Support inbox", "Old inbox"}
    rule_feed = feeds["Support inbox"]
    assert (rule_feed["enabled"], rule_feed["status"], rule_feed["status_message"]) == (
        False,
        "disabled",
        "",
    )
    assert rule_feed["addresses"] == [
        {
            "kind": "rule",
            "rule_index": 0,
            "match": "exact",
            "pattern": "billing@example.com",
            "issue_type": "Bug",
        }
    ]
    assert feeds["Old inbox"]["source_id"] == plain["id"]
    assert [a["kind"] for a in feeds["Old inbox"]["addresses"]] == ["all"]

    sup = api.call("GET", "/projects/SUP/feeds").json()["feeds"]
    assert [a["kind"] for a in sup[0]["addresses"]] == ["unrouted"]
    ops = api.call("GET", "/projects/OPS/feeds").json()["feeds"]
    assert ops[0]["addresses"][0]["pattern"] == "support+OPS@example.com"
    assert api.call("GET", "/projects/NONE/feeds").json() == {"project_key": "NONE", "feeds": []}


def test_project_feeds_bad_key_answers_400(api: AdminApi) -> None:
    response = api.call("GET", "/projects/bil/feeds")
    assert response.status_code == 400
    assert response.json()["field"] == "project_key"


# -- email log and tenants ------------------------------------------------------------------


def test_email_log_entry_shows_the_route(api: AdminApi, source: dict[str, Any]) -> None:
    log = api.app.runtime.email_log
    entry = log.begin(api.tenant_id, source["id"], "INBOX:1:1", size=1)
    log.record_route(entry.id, {"decided_by": "source", "reason": "why"})
    listed = api.call("GET", "/email-log").json()["entries"]
    assert listed[0]["route"] == {"decided_by": "source", "reason": "why"}
    other = log.begin(api.tenant_id, source["id"], "INBOX:1:2", size=1)
    assert api.call("GET", f"/email-log/{other.id}").json()["route"] is None


def test_other_tenant_cannot_check_routes_or_see_feeds(
    api: AdminApi, other_site: AdminApi, source: dict[str, Any]
) -> None:
    foreign = other_site.token()
    response = api.call(
        "POST",
        f"/mail-sources/{source['id']}/route-check",
        json={"headers": POSTFIX_HEADERS},
        token=foreign,
    )
    assert response.status_code == 404
    assert response.json() == {"error": f"no mail source with id {source['id']}", "field": None}
    theirs = other_site.call("GET", "/projects/BIL/feeds").json()
    assert theirs == {"project_key": "BIL", "feeds": []}
    assert len(api.call("GET", "/projects/BIL/feeds").json()["feeds"]) == 1


def test_route_check_says_who_would_write_it(api: AdminApi, source: dict[str, Any]) -> None:
    from tests import dkim_keys

    signed = dkim_keys.sign(dkim_keys.message())
    answer = _check_route(api, source["id"], eml=base64.b64encode(signed).decode())
    assert answer["sender"]["verified"] is True  # the app's key lookup is the tests' table
    assert answer["sender"]["method"] == "dkim"
    assert answer["sender"]["as_account"] is True
    forged = dkim_keys.message()
    answer = _check_route(api, source["id"], eml=base64.b64encode(forged).decode())
    assert answer["sender"]["reason"] == "no_signature"
    assert answer["sender"]["as_account"] is False
    # The source's rules name example.com addresses: it is one of our own domains.
    said = "sender not verified: the message has no DKIM signature; the From: line claims"
    assert any(step.startswith(said) for step in answer["trail"])
