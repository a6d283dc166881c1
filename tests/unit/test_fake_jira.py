"""The fake Jira must reject what real Jira rejects, or the suite built on it proves nothing."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector.connect.jwt import (
    JwtError,
    encode_token,
    query_string_hash,
    request_target,
    verify_install_token,
    verify_tenant_token,
)
from tests.fakes import rest
from tests.fakes.catalogue import DEFAULT_PERMISSIONS
from tests.fakes.jira import FakeJira
from tests.fakes.jql import JqlError, parse_jql
from tests.fakes.keys import generate_rsa_key
from tests.fakes.openapi import JiraOpenApi, adf_schema, jira_openapi, jsm_openapi
from tests.fakes.server import LoopbackServer

API = "/rest/api/3"


def adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def tenant_token(jira: FakeJira, method: str, url: str, **kwargs: Any) -> str:
    return encode_token(
        issuer=kwargs.pop("issuer", jira.app_key),
        shared_secret=kwargs.pop("shared_secret", jira.shared_secret),
        target=request_target(method, url),
        **kwargs,
    )


def call(jira: FakeJira, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A request signed the way the app signs its Jira calls."""
    # The qsh covers the query, so the token is made for the URL with its parameters.
    url = str(httpx.URL(jira.base_url + path, params=kwargs.pop("params", None)))
    headers = {"Authorization": f"JWT {tenant_token(jira, method, url)}"}
    headers.update(kwargs.pop("headers", {}))
    kwargs.setdefault("timeout", 5)
    return httpx.request(method, url, headers=headers, **kwargs)


def create_issue(jira: FakeJira, project: str, summary: str = "Printer on fire") -> str:
    fields = {
        "project": {"key": project},
        "issuetype": {"name": "Task"},
        "summary": summary,
        "description": adf("It smells of toner."),
    }
    response = call(jira, "POST", f"{API}/issue", json={"fields": fields})
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


@pytest.fixture(scope="module")
def shared_jira() -> Iterator[FakeJira]:
    with FakeJira() as jira:
        yield jira


@pytest.fixture
def jira(shared_jira: FakeJira) -> Iterator[FakeJira]:
    """The module's fake site; each test works in its own project, faults do not leak."""
    yield shared_jira
    shared_jira.clear_faults()


_project_numbers = iter(range(1, 10_000))


@pytest.fixture
def project(jira: FakeJira) -> str:
    key = f"P{next(_project_numbers)}"
    jira.add_project(key, f"Project {key}")
    return key


# --- tenant JWT on REST calls -----------------------------------------------------------------


def test_jwt_request_signed_correctly_creates_issue_and_reads_it_back(
    jira: FakeJira, project: str
) -> None:
    key = create_issue(jira, project)

    response = call(jira, "GET", f"{API}/issue/{key}")

    assert key == f"{project}-1"
    assert response.status_code == 200
    fields = response.json()["fields"]
    assert fields["summary"] == "Printer on fire"
    assert fields["description"] == adf("It smells of toner.")
    assert fields["project"]["key"] == project
    assert fields["reporter"]["accountId"] == jira.app_account_id
    assert jira.requests_log[-1].auth == "jwt"


def _none_token(jira: FakeJira, url: str) -> str:
    def b64(part: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "iss": jira.app_key,
        "iat": now,
        "exp": now + 60,
        "qsh": query_string_hash(request_target("POST", url)),
    }
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


@pytest.mark.parametrize(
    "spoil",
    ["qsh_of_other_request", "wrong_secret", "wrong_issuer", "alg_none", "expired", "context_qsh"],
)
def test_jwt_request_spoiled_token_is_rejected_401(
    jira: FakeJira, project: str, spoil: str
) -> None:
    url = f"{jira.base_url}{API}/issue"
    tokens = {
        "qsh_of_other_request": lambda: tenant_token(jira, "GET", f"{jira.base_url}{API}/myself"),
        "wrong_secret": lambda: tenant_token(jira, "POST", url, shared_secret="x" * 48),
        "wrong_issuer": lambda: tenant_token(jira, "POST", url, issuer="another-app"),
        "alg_none": lambda: _none_token(jira, url),
        "expired": lambda: tenant_token(jira, "POST", url, now=time.time() - 3600),
        "context_qsh": lambda: encode_token(
            issuer=jira.app_key, shared_secret=jira.shared_secret, target=None
        ),
    }
    fields = {"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": "x"}

    response = httpx.post(
        url, json={"fields": fields}, headers={"Authorization": f"JWT {tokens[spoil]()}"}
    )

    assert response.status_code == 401
    assert response.json()["errorMessages"][0]
    assert not [k for k in jira.issue_keys() if k.startswith(f"{project}-")]


def test_rest_request_without_authorization_is_rejected_401(jira: FakeJira) -> None:
    response = httpx.get(f"{jira.base_url}{API}/myself")

    assert response.status_code == 401
    assert jira.requests_log[-1].auth == "none"


# --- API-token (Basic) mode -------------------------------------------------------------------


def test_basic_auth_registered_token_is_accepted_as_that_user(jira: FakeJira) -> None:
    jira.add_user("557058:agent-1", "agent@example.com", "Agent One")
    jira.api_tokens["agent@example.com"] = "tok-123"

    response = httpx.get(f"{jira.base_url}{API}/myself", auth=("agent@example.com", "tok-123"))

    assert response.status_code == 200
    assert response.json()["accountId"] == "557058:agent-1"
    assert jira.requests_log[-1].auth == "basic"


@pytest.mark.parametrize(
    ("email", "token"), [("agent2@example.com", "wrong"), ("stranger@example.com", "tok-456")]
)
def test_basic_auth_unknown_email_or_token_is_rejected_401(
    jira: FakeJira, email: str, token: str
) -> None:
    jira.api_tokens["agent2@example.com"] = "tok-456"

    response = httpx.get(f"{jira.base_url}{API}/myself", auth=(email, token))

    assert response.status_code == 401


# --- body validation --------------------------------------------------------------------------


def test_issue_create_empty_text_node_is_rejected_400_and_recorded(
    jira: FakeJira, project: str
) -> None:
    bad_doc = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}],
    }
    fields = {
        "project": {"key": project},
        "issuetype": {"name": "Task"},
        "summary": "x",
        "description": bad_doc,
    }
    failures_before = len(jira.validation_failures)

    response = call(jira, "POST", f"{API}/issue", json={"fields": fields})

    assert response.status_code == 400
    assert "content[0].content[0].text" in response.json()["errorMessages"][0]
    assert len(jira.validation_failures) == failures_before + 1
    assert jira.validation_failures[-1].kind == "adf"


def test_comment_plain_string_body_is_rejected_400(jira: FakeJira, project: str) -> None:
    key = create_issue(jira, project)

    response = call(jira, "POST", f"{API}/issue/{key}/comment", json={"body": "plain text"})

    assert response.status_code == 400
    assert jira.validation_failures[-1].kind == "adf"


def test_issue_create_fields_not_an_object_is_rejected_400_by_openapi(jira: FakeJira) -> None:
    response = call(jira, "POST", f"{API}/issue", json={"fields": "summary=x"})

    assert response.status_code == 400
    assert response.json()["errors"] == {}
    assert "fields" in response.json()["errorMessages"][0]
    assert jira.validation_failures[-1].kind == "openapi"


def test_search_unknown_body_property_is_rejected_400_by_openapi(jira: FakeJira) -> None:
    # The new search endpoint has no startAt; sending it is a client bug Jira refuses.
    body = {"jql": "project = X", "startAt": 50}

    response = call(jira, "POST", f"{API}/search/jql", json=body)

    assert response.status_code == 400
    assert "startAt" in response.json()["errorMessages"][0]


@pytest.mark.parametrize(
    ("template", "method"),
    [
        ("/rest/api/3/issue", "post"),
        ("/rest/api/3/issue/{issueIdOrKey}/comment", "post"),
        ("/rest/api/3/permissions/check", "post"),
    ],
)
def test_openapi_spec_examples_are_accepted(template: str, method: str) -> None:
    example = jira_openapi().request_example(template, method)

    assert example is not None
    assert jira_openapi().request_body_errors(template, method, example) == []


def test_adf_schema_nested_error_names_the_innermost_node() -> None:
    document = adf("ok")
    document["content"].append({"type": "bulletList", "content": [{"type": "paragraph"}]})

    errors = adf_schema().errors(document)

    assert errors
    assert errors[0].startswith("document.content[1].content[0]")
    assert adf_schema().errors(adf("fine")) == []


def test_issue_create_unknown_project_and_type_answer_jira_errors_map(jira: FakeJira) -> None:
    fields = {"project": {"key": "NOPE"}, "issuetype": {"name": "Task"}, "summary": "x"}

    response = call(jira, "POST", f"{API}/issue", json={"fields": fields})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"project"}


def test_issue_create_required_custom_field_missing_is_rejected_400(jira: FakeJira) -> None:
    field_id = jira.add_custom_field("Customer email", projects=["REQ"])
    jira.add_project("REQ", "Required", required_fields=(field_id,))
    fields = {"project": {"key": "REQ"}, "issuetype": {"name": "Bug"}, "summary": "x"}

    missing = call(jira, "POST", f"{API}/issue", json={"fields": fields})
    given = call(jira, "POST", f"{API}/issue", json={"fields": {**fields, field_id: "a@b.c"}})

    assert missing.status_code == 400
    assert missing.json()["errors"] == {field_id: "Customer email is required."}
    assert given.status_code == 201
    assert jira.issue(given.json()["key"])["fields"][field_id] == "a@b.c"  # type: ignore[index]


def test_issue_create_field_off_screen_is_rejected_400(jira: FakeJira, project: str) -> None:
    field_id = jira.add_custom_field("Elsewhere only", projects=["ELSEWHERE"])
    fields = {
        "project": {"key": project},
        "issuetype": {"name": "Task"},
        "summary": "x",
        field_id: "v",
    }

    response = call(jira, "POST", f"{API}/issue", json={"fields": fields})

    assert response.status_code == 400
    assert "not on the appropriate screen" in response.json()["errors"][field_id]


# --- comments, attachments, properties, search ------------------------------------------------


def test_comment_added_is_listed_in_paged_container(jira: FakeJira, project: str) -> None:
    key = create_issue(jira, project)

    added = call(jira, "POST", f"{API}/issue/{key}/comment", json={"body": adf("Thanks!")})
    listed = call(jira, "GET", f"{API}/issue/{key}/comment")

    assert added.status_code == 201
    assert listed.json()["total"] == 1
    assert listed.json()["comments"][0]["id"] == added.json()["id"]
    assert listed.json()["comments"][0]["body"] == adf("Thanks!")


def test_attachments_without_xsrf_header_are_refused_403(jira: FakeJira, project: str) -> None:
    key = create_issue(jira, project)

    response = call(jira, "POST", f"{API}/issue/{key}/attachments", files={"file": ("a", b"x")})

    assert response.status_code == 403
    assert jira.issue(key)["fields"]["attachment"] == []  # type: ignore[index]


def test_attachments_with_xsrf_header_are_stored_byte_for_byte(
    jira: FakeJira, project: str
) -> None:
    key = create_issue(jira, project)
    content = os.urandom(4096) + b"\r\n--not-a-boundary\r\n"

    response = call(
        jira,
        "POST",
        f"{API}/issue/{key}/attachments",
        files={"file": ("scan.pdf", content, "application/pdf")},
        headers={"X-Atlassian-Token": "no-check"},
    )

    assert response.status_code == 200
    [attachment] = response.json()
    assert (attachment["filename"], attachment["size"]) == ("scan.pdf", len(content))
    assert attachment["mimeType"] == "application/pdf"
    assert jira.attachment_content(attachment["id"]) == content
    downloaded = call(jira, "GET", f"{API}/attachment/content/{attachment['id']}")
    assert downloaded.content == content


def test_issue_property_round_trips_and_jql_finds_issue_by_it(jira: FakeJira, project: str) -> None:
    key = create_issue(jira, project)
    create_issue(jira, project, summary="Another one")
    path = f"{API}/issue/{key}/properties/mail-connector"

    created = call(jira, "PUT", path, json={"digest": "d1g35t"})
    updated = call(jira, "PUT", path, json={"digest": "d1g35t", "n": 2})
    read = call(jira, "GET", path)
    jql = f'issue.property[mail-connector].digest = "d1g35t" AND project = {project}'
    found = call(jira, "GET", f"{API}/search/jql", params={"jql": jql, "fields": "summary"})

    assert (created.status_code, updated.status_code) == (201, 200)
    assert read.json() == {"key": "mail-connector", "value": {"digest": "d1g35t", "n": 2}}
    assert [issue["key"] for issue in found.json()["issues"]] == [key]
    assert found.json()["issues"][0]["fields"] == {"summary": "Printer on fire"}
    assert found.json()["isLast"] is True


def test_issue_property_missing_answers_404(jira: FakeJira, project: str) -> None:
    key = create_issue(jira, project)

    response = call(jira, "GET", f"{API}/issue/{key}/properties/absent")

    assert response.status_code == 404


def test_search_post_pages_with_next_page_token(jira: FakeJira, project: str) -> None:
    keys = [create_issue(jira, project) for _ in range(3)]
    body: dict[str, Any] = {"jql": f"project = {project} ORDER BY created ASC", "maxResults": 2}

    first = call(jira, "POST", f"{API}/search/jql", json=body).json()
    second = call(
        jira, "POST", f"{API}/search/jql", json={**body, "nextPageToken": first["nextPageToken"]}
    ).json()

    assert [i["key"] for i in first["issues"] + second["issues"]] == keys
    assert (first["isLast"], second["isLast"]) == (False, True)


def test_search_unsupported_jql_answers_400_not_everything(jira: FakeJira) -> None:
    response = call(jira, "GET", f"{API}/search/jql", params={"jql": "project = A OR project = B"})

    assert response.status_code == 400


def test_jql_parser_reads_quoted_values_and_in_lists() -> None:
    query = parse_jql('issue.property[a.b].c = "x \\" y" AND project in (A, "B") order by key')

    assert query.clauses[0].entity_property == ("a.b", "c")
    assert query.clauses[0].values == ('x " y',)
    assert query.clauses[1].values == ("A", "B")
    with pytest.raises(JqlError):
        parse_jql("order by created")


def test_issue_unknown_key_answers_jira_404_body(jira: FakeJira) -> None:
    response = call(jira, "GET", f"{API}/issue/NOPE-404")

    assert response.status_code == 404
    assert response.json() == {
        "errorMessages": ["Issue does not exist or you do not have permission to see it."],
        "errors": {},
    }


# --- users, metadata, permissions -------------------------------------------------------------


def test_user_search_matches_email_case_insensitively_and_hides_private_email(
    jira: FakeJira,
) -> None:
    jira.add_user("557058:ann", "Ann.Smith@Example.org", "Ann Smith", email_visible=False)

    response = call(jira, "GET", f"{API}/user/search", params={"query": "ann.smith@example"})

    assert [u["accountId"] for u in response.json()] == ["557058:ann"]
    assert "emailAddress" not in response.json()[0]


def test_createmeta_fields_list_custom_field_with_required_flag(jira: FakeJira) -> None:
    field_id = jira.add_custom_field("Sender", projects=["META"])
    jira.add_project("META", "Meta", ("Task",), required_fields=(field_id,))

    response = call(jira, "GET", f"{API}/issue/createmeta/META/issuetypes/10001")

    entries = {f["fieldId"]: f for f in response.json()["fields"]}
    assert entries[field_id]["required"] is True
    assert entries[field_id]["schema"]["custom"].endswith(":textfield")
    assert entries["summary"]["required"] is True
    assert entries["labels"]["required"] is False


def test_mypermissions_reports_what_the_test_granted(jira: FakeJira) -> None:
    params = {"permissions": "ADMINISTER,CREATE_ISSUES"}
    before = call(jira, "GET", f"{API}/mypermissions", params=params).json()["permissions"]
    jira.set_permissions("ADMINISTER", "CREATE_ISSUES")
    try:
        after = call(jira, "GET", f"{API}/mypermissions", params=params).json()["permissions"]
    finally:
        jira.set_permissions(*DEFAULT_PERMISSIONS)

    assert before["ADMINISTER"]["havePermission"] is False
    assert after["ADMINISTER"]["havePermission"] is True


def test_responses_match_the_spec_response_schemas(jira: FakeJira, project: str) -> None:
    key = create_issue(jira, project)
    call(jira, "POST", f"{API}/issue/{key}/comment", json={"body": adf("hi")})
    checks = [
        ("GET", "/issue/{issueIdOrKey}", f"/issue/{key}", {}),
        ("GET", "/issue/{issueIdOrKey}/comment", f"/issue/{key}/comment", {}),
        ("GET", "/search/jql", "/search/jql", {"jql": f"project = {project}", "fields": "*all"}),
        ("GET", "/field", "/field", {}),
        ("GET", "/serverInfo", "/serverInfo", {}),
        ("GET", "/myself", "/myself", {}),
        ("GET", "/project/{projectIdOrKey}", f"/project/{project}", {}),
        (
            "GET",
            "/issue/createmeta/{projectIdOrKey}/issuetypes",
            f"/issue/createmeta/{project}/issuetypes",
            {},
        ),
        ("GET", "/mypermissions", "/mypermissions", {"permissions": "BROWSE_PROJECTS"}),
    ]
    for method, template, path, params in checks:
        response = call(jira, method, API + path, params=params)
        assert response.status_code == 200, path
        errors = jira_openapi().response_body_errors(API + template, method, 200, response.json())
        assert errors == [], (template, errors)


def test_write_responses_match_the_spec_response_schemas(jira: FakeJira, project: str) -> None:
    jira.add_user("557058:writer", "writer@example.com", "Writer")
    textarea = jira.add_custom_field("Original mail", "textarea")
    key = create_issue(jira, project)
    attached = call(
        jira,
        "POST",
        f"{API}/issue/{key}/attachments",
        files={"file": ("a.txt", b"x")},
        headers={"X-Atlassian-Token": "no-check"},
    )
    attachment_id = attached.json()[0]["id"]
    check = {"accountId": "557058:writer", "globalPermissions": ["ADMINISTER"]}
    fields = {
        "project": {"key": project},
        "issuetype": {"id": "10002"},
        "summary": "With everything",
        textarea: adf("From: someone"),
        "labels": ["email"],
        "assignee": {"accountId": "557058:writer"},
    }
    checks = [
        ("POST", "/issue", 201, call(jira, "POST", f"{API}/issue", json={"fields": fields})),
        ("POST", "/issue/{issueIdOrKey}/attachments", 200, attached),
        ("GET", "/attachment/{id}", 200, call(jira, "GET", f"{API}/attachment/{attachment_id}")),
        (
            "POST",
            "/issue/{issueIdOrKey}/comment",
            201,
            call(jira, "POST", f"{API}/issue/{key}/comment", json={"body": adf("c")}),
        ),
        (
            "POST",
            "/permissions/check",
            200,
            call(jira, "POST", f"{API}/permissions/check", json=check),
        ),
        (
            "GET",
            "/user",
            200,
            call(jira, "GET", f"{API}/user", params={"accountId": "557058:writer"}),
        ),
        (
            "GET",
            "/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}",
            200,
            call(jira, "GET", f"{API}/issue/createmeta/{project}/issuetypes/10001"),
        ),
    ]
    for method, template, status, response in checks:
        assert response.status_code == status, (template, response.text)
        errors = jira_openapi().response_body_errors(
            API + template, method, status, response.json()
        )
        assert errors == [], (template, errors)
    assert checks[4][3].json()["globalPermissions"] == []


def test_issue_edit_sets_summary_and_adds_label(jira: FakeJira, project: str) -> None:
    key = create_issue(jira, project)
    body = {"fields": {"summary": "Renamed"}, "update": {"labels": [{"add": "from-mail"}]}}

    response = call(jira, "PUT", f"{API}/issue/{key}", json=body)

    assert response.status_code == 204
    fields = jira.issue(key)["fields"]  # type: ignore[index]
    assert (fields["summary"], fields["labels"]) == ("Renamed", ["from-mail"])


def test_every_route_of_the_fake_is_an_operation_of_the_spec() -> None:
    def spec_of(template: str) -> JiraOpenApi:
        return jsm_openapi() if template.startswith("/rest/servicedeskapi/") else jira_openapi()

    missing = [
        (r.method, r.template)
        for r in rest.ROUTES
        if spec_of(r.template).operation(r.template, r.method) is None
    ]

    assert len(rest.ROUTES) > 20
    assert missing == []


def test_resource_in_spec_but_not_in_fake_answers_501(jira: FakeJira, project: str) -> None:
    key = create_issue(jira, project)

    response = call(jira, "GET", f"{API}/issue/{key}/worklog")

    assert response.status_code == 501
    assert "/worklog" in response.json()["errorMessages"][0]


def test_status_change_shows_in_changelog_and_relative_updated_search(
    jira: FakeJira, project: str
) -> None:
    key = create_issue(jira, project)
    jira.add_user("557058:agent", "agent@example.com", "Agent")
    entry = jira.change_status(key, "Done", "557058:agent")

    changes = call(jira, "GET", f"{API}/issue/{key}/changelog").json()
    assert [c["id"] for c in changes["values"]] == [entry["id"]]
    assert changes["values"][0]["author"]["accountId"] == "557058:agent"
    assert changes["values"][0]["items"][0]["toString"] == "Done"
    assert jira.issue(key)["fields"]["status"]["name"] == "Done"  # type: ignore[index]

    def search(jql: str) -> list[str]:
        found = call(jira, "GET", f"{API}/search/jql", params={"jql": f"key = {key} AND {jql}"})
        return [issue["id"] for issue in found.json().get("issues", [])]

    assert len(search('updated >= "-5m"')) == 1
    assert search('updated < "-5m"') == []
    refused = call(jira, "GET", f"{API}/search/jql", params={"jql": 'updated >= "2026-01-01"'})
    assert refused.status_code == 400


# --- fault injection --------------------------------------------------------------------------


def test_injected_429_carries_retry_after_then_clears(jira: FakeJira) -> None:
    jira.inject_fault(429, retry_after="7", path_contains="/myself")

    limited = call(jira, "GET", f"{API}/myself")
    other = call(jira, "GET", f"{API}/serverInfo")
    again = call(jira, "GET", f"{API}/myself")

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert (other.status_code, again.status_code) == (200, 200)


def test_injected_delay_makes_client_time_out(jira: FakeJira) -> None:
    jira.inject_delay(2.0, path_contains="/serverInfo")
    started = time.monotonic()

    with pytest.raises(httpx.ReadTimeout):
        call(jira, "GET", f"{API}/serverInfo", timeout=0.2)

    assert time.monotonic() - started < 1.5


# --- install keys and signed install ----------------------------------------------------------


def test_key_server_serves_pem_for_kid_and_404_otherwise(jira: FakeJira) -> None:
    fetches_before = jira.key_fetches

    known = httpx.get(f"{jira.install_keys_url}/{jira.kid}")
    unknown = httpx.get(f"{jira.install_keys_url}/not-a-kid")

    assert known.status_code == 200
    assert known.headers["content-type"].startswith("text/plain")
    assert known.text == jira.public_key_pem
    assert known.text.startswith("-----BEGIN PUBLIC KEY-----")
    assert unknown.status_code == 404
    assert jira.key_fetches == fetches_before + 2


def test_key_server_shared_by_two_sites_serves_both_keys(jira: FakeJira) -> None:
    with FakeJira(key_server=jira.key_server) as other:
        served = httpx.get(f"{other.install_keys_url}/{other.kid}")

        assert other.install_keys_url == jira.install_keys_url
        assert other.kid != jira.kid
        assert served.text == other.public_key_pem
    # Stopping the second site leaves the first one's key server up.
    assert httpx.get(f"{jira.install_keys_url}/{jira.kid}").status_code == 200


def test_signed_install_token_is_rs256_for_app_audience_with_lifecycle_qsh(
    jira: FakeJira,
) -> None:
    url = "https://app.example.com/connect/installed"

    token = jira.signed_install_token(url, app_base_url="https://app.example.com/connect")

    header = pyjwt.get_unverified_header(token)
    claims = pyjwt.decode(
        token,
        jira.public_key_pem,
        algorithms=["RS256"],
        audience="https://app.example.com/connect",
    )
    assert (header["alg"], header["kid"]) == ("RS256", jira.kid)
    assert claims["iss"] == jira.client_key
    assert claims["qsh"] == query_string_hash(request_target("POST", "/installed"))
    assert claims["exp"] - claims["iat"] == 180
    assert claims["sub"]


def test_signed_install_token_overrides_break_verification(jira: FakeJira) -> None:
    base = "https://app.example.com"
    url = f"{base}/installed"
    target = request_target("POST", url)
    spoiled = {
        "audience": jira.signed_install_token(url, app_base_url=base, audience="https://evil"),
        "expired": jira.signed_install_token(url, app_base_url=base, expires_in=-300),
        "other_key": jira.signed_install_token(
            url, app_base_url=base, signing_key=generate_rsa_key()
        ),
        "qsh": jira.signed_install_token(url, app_base_url=base, qsh="0" * 64),
        "hs256": jira.signed_install_token(url, app_base_url=base, algorithm="HS256"),
        "none": jira.signed_install_token(url, app_base_url=base, algorithm="none"),
    }
    good = jira.signed_install_token(url, app_base_url=base)

    verify_install_token(good, jira.public_key_pem, audience=base, target=target)
    verified = []
    for name, token in spoiled.items():
        try:
            verify_install_token(token, jira.public_key_pem, audience=base, target=target)
        except JwtError:
            continue
        verified.append(name)
    assert verified == []
    unknown_kid = jira.signed_install_token(url, app_base_url=base, kid="gone")
    assert pyjwt.get_unverified_header(unknown_kid)["kid"] == "gone"


# --- lifecycle callbacks and webhooks, against a stand-in app ---------------------------------


class StandInApp:
    """Serves a descriptor under /app and records what Jira posts to it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self.answer_status = 204
        app = Starlette(
            routes=[
                Route("/app/atlassian-connect.json", self._descriptor),
                Route("/app/{rest:path}", self._record, methods=["POST"]),
            ]
        )
        self.server = LoopbackServer(app, name="stand-in-app")

    @property
    def base_url(self) -> str:
        return self.server.base_url + "/app"

    async def _descriptor(self, request: Request) -> Response:
        issue_property = {
            "propertyKey": "mail-connector",
            "extractions": [{"objectName": "digest", "type": "string", "alias": "mailDigest"}],
        }
        return JSONResponse(
            {
                "key": "mail-connector",
                "baseUrl": self.base_url,
                "authentication": {"type": "jwt"},
                "apiMigrations": {"signed-install": True},
                "lifecycle": {
                    "installed": "/lifecycle/installed",
                    "uninstalled": "/lifecycle/uninstalled",
                },
                "modules": {
                    "webhooks": [
                        {"event": "jira:issue_created", "url": "/hooks/created?issue={issue.key}"}
                    ],
                    "jiraEntityProperties": [
                        {
                            "key": "mail-props",
                            "name": {"value": "Mail"},
                            "entityType": "issue",
                            "keyConfigurations": [issue_property],
                        }
                    ],
                },
            }
        )

    async def _record(self, request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        self.received.append((str(request.url), authorization, await request.json()))
        return Response(status_code=self.answer_status)


@pytest.fixture(scope="module")
def stand_in_app() -> Iterator[StandInApp]:
    app = StandInApp()
    app.server.start()
    yield app
    app.server.stop()


@pytest.fixture
def fresh_jira(stand_in_app: StandInApp) -> Iterator[FakeJira]:
    stand_in_app.received.clear()
    stand_in_app.answer_status = 204
    with FakeJira() as jira:
        yield jira


def test_install_posts_callback_the_app_can_verify_with_the_served_key(
    fresh_jira: FakeJira, stand_in_app: StandInApp
) -> None:
    response = fresh_jira.install(stand_in_app.base_url)

    assert response.status_code == 204
    [(url, authorization, body)] = stand_in_app.received
    token = authorization.removeprefix("JWT ")
    kid = pyjwt.get_unverified_header(token)["kid"]
    pem = httpx.get(f"{fresh_jira.install_keys_url}/{kid}").text
    claims = verify_install_token(
        token,
        pem,
        audience=stand_in_app.base_url,
        target=request_target("POST", url, base_path="/app"),
    )
    assert claims["iss"] == body["clientKey"] == fresh_jira.client_key
    assert body["sharedSecret"] == fresh_jira.shared_secret
    assert len(body["sharedSecret"]) >= 32
    assert (body["eventType"], body["baseUrl"]) == ("installed", fresh_jira.base_url)
    assert fresh_jira.app_base_url == stand_in_app.base_url


def test_reinstall_new_secret_is_adopted_only_when_app_accepts(
    fresh_jira: FakeJira, stand_in_app: StandInApp
) -> None:
    fresh_jira.install(stand_in_app.base_url)
    old_secret = fresh_jira.shared_secret
    stand_in_app.answer_status = 401
    fresh_jira.install(stand_in_app.base_url, shared_secret="r" * 40)
    refused_secret = fresh_jira.shared_secret
    stand_in_app.answer_status = 204

    fresh_jira.install(stand_in_app.base_url, shared_secret="n" * 40)
    url = f"{fresh_jira.base_url}{API}/myself"
    stale = httpx.get(
        url,
        headers={
            "Authorization": f"JWT {tenant_token(fresh_jira, 'GET', url, shared_secret=old_secret)}"
        },
    )

    assert refused_secret == old_secret
    assert fresh_jira.shared_secret == "n" * 40
    assert stale.status_code == 401
    assert call(fresh_jira, "GET", f"{API}/myself").status_code == 200


def test_uninstall_sends_no_secret_and_locks_out_tenant_jwt(
    fresh_jira: FakeJira, stand_in_app: StandInApp
) -> None:
    fresh_jira.install(stand_in_app.base_url)

    fresh_jira.uninstall()

    body = stand_in_app.received[-1][2]
    assert body["eventType"] == "uninstalled"
    assert "sharedSecret" not in body
    assert call(fresh_jira, "GET", f"{API}/myself").status_code == 401


def test_webhook_is_signed_with_tenant_secret_and_fills_url_variables(
    fresh_jira: FakeJira, stand_in_app: StandInApp
) -> None:
    fresh_jira.install(stand_in_app.base_url)

    response = fresh_jira.send_webhook("jira:issue_created", {"issue": {"key": "PROJ-7"}})

    assert response.status_code == 204
    url, authorization, body = stand_in_app.received[-1]
    assert url.endswith("/app/hooks/created?issue=PROJ-7")
    claims = verify_tenant_token(
        authorization.removeprefix("JWT "),
        fresh_jira.shared_secret,
        target=request_target("POST", url, base_path="/app"),
    )
    assert claims["iss"] == fresh_jira.client_key
    assert body["webhookEvent"] == "jira:issue_created"
    assert body["issue"] == {"key": "PROJ-7"}


def test_jql_after_install_only_searches_indexed_properties(
    fresh_jira: FakeJira, stand_in_app: StandInApp
) -> None:
    fresh_jira.install(stand_in_app.base_url)
    fresh_jira.add_project("IDX", "Indexed")
    key = create_issue(fresh_jira, "IDX")
    call(fresh_jira, "PUT", f"{API}/issue/{key}/properties/mail-connector", json={"digest": "d"})

    indexed = call(fresh_jira, "POST", f"{API}/search/jql", json={"jql": "mailDigest = d"})
    not_indexed = call(
        fresh_jira,
        "POST",
        f"{API}/search/jql",
        json={"jql": "issue.property[mail-connector].other = d"},
    )

    assert [i["key"] for i in indexed.json()["issues"]] == [key]
    assert not_indexed.status_code == 400
