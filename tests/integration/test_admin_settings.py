"""`/api/v1/settings/...`: the custom-field mapping and the workaround user, against the fake
Jira over real HTTP: shapes, checks against Jira's fields, the write-only token, the test
action's steps, and one site never reaching another's settings."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.fakes import catalogue as cat
from tests.fakes.datacenter import FakeJiraDataCenter
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import AdminApi, make_admin_api
from tests.integration.conftest import RunningApp
from tests.integration.sites_support import (
    SERVICE_USER,
    admin_link,
    connect_datacenter,
    csrf_headers,
    sign_in_link,
)

TOKEN = "ATATT3xFfGF0-workaround-token-0123456789"
BOT = "lookup-bot@example.com"
ROLES = ["sender_name", "sender_address", "recipients", "language"]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Settings behave the same on both backends (the storage test covers PostgreSQL)."""
    return sqlite_url


@pytest.fixture
def other_site(api: AdminApi) -> Iterator[AdminApi]:
    with FakeJira(app_key="mail-connector", key_server=api.jira.key_server) as other:
        yield make_admin_api(api.app, other)


def _user(email: str | None, has_token: bool) -> dict[str, object]:
    """The answer about the workaround user on an installed (Connect) Jira Cloud site."""
    return {"email": email, "has_token": has_token, "site_kind": "connect", "applies": True}


def _let_app_administer(jira: FakeJira) -> None:
    jira.set_permissions(*cat.DEFAULT_PERMISSIONS, "ADMINISTER")


# -- fields -------------------------------------------------------------------------------


def test_fields_get_unmapped_lists_roles_and_custom_fields(api: AdminApi) -> None:
    text_id = api.jira.add_custom_field("Customer name")
    number_id = api.jira.add_custom_field("Ticket count", "number")
    answer = api.call("GET", "/settings/fields")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["mapping"] == dict.fromkeys(ROLES)
    assert [r["role"] for r in body["roles"]] == ROLES
    assert body["roles"][0] == {
        "role": "sender_name",
        "label": "Sender name",
        "field_id": None,
        "field_name": None,
        "on_create_screen": None,
    }
    listed = {f["id"]: f for f in body["custom_fields"]}
    assert listed[text_id] == {
        "id": text_id,
        "name": "Customer name",
        "type": "string",
        "custom_type": "textfield",
        "holds_text": True,
    }
    assert listed[number_id]["type"] == "number" and not listed[number_id]["holds_text"]
    assert "summary" not in listed  # system fields are not offered
    assert body["can_create_fields"] is False


def test_fields_put_maps_and_reports_create_screen_per_project(api: AdminApi) -> None:
    api.jira.add_project("OPS", "Operations", issue_types=("Task",))
    everywhere = api.jira.add_custom_field("Sender name")
    only_ops = api.jira.add_custom_field("Sender address", "textarea", projects=["OPS"])
    mapping = {"sender_name": everywhere, "sender_address": only_ops}
    saved = api.call("PUT", "/settings/fields", json={"mapping": mapping})
    assert saved.status_code == 200, saved.text
    assert saved.json()["mapping"] == {**dict.fromkeys(ROLES), **mapping}
    # No project asked about and no enabled source: the screen cannot be told.
    assert [r["on_create_screen"] for r in saved.json()["roles"]] == [None] * 4

    sup = api.call("GET", "/settings/fields?project_key=SUP&issue_type=Task").json()
    by_role = {r["role"]: r for r in sup["roles"]}
    assert by_role["sender_name"]["field_name"] == "Sender name"
    assert by_role["sender_name"]["on_create_screen"] is True
    assert by_role["sender_address"]["on_create_screen"] is False
    assert by_role["recipients"]["on_create_screen"] is None  # unmapped
    ops = api.call("GET", "/settings/fields?project_key=OPS").json()
    assert {r["role"]: r["on_create_screen"] for r in ops["roles"]}["sender_address"] is True


def test_fields_get_without_query_checks_enabled_sources(api: AdminApi) -> None:
    field_id = api.jira.add_custom_field("Recipients", projects=["SUP"])
    api.call("PUT", "/settings/fields", json={"mapping": {"recipients": field_id}})
    source = api.create()
    api.app.runtime.sources.set_enabled(api.tenant_id, source["id"], True)
    roles = api.call("GET", "/settings/fields").json()["roles"]
    assert {r["role"]: r["on_create_screen"] for r in roles}["recipients"] is True


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("project_key=NOPE", "project_key", "Jira has no project NOPE"),
        ("project_key=SUP&issue_type=Epic", "issue_type", "SUP has no issue type 'Epic'"),
        ("issue_type=Task", "project_key", "project_key: is required with issue_type"),
        ("project=SUP", "project", "project: is not a filter"),
    ],
)
def test_fields_get_bad_query_answers_400_naming_it(
    api: AdminApi, query: str, field: str, words: str
) -> None:
    answer = api.call("GET", f"/settings/fields?{query}")
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field
    assert words in answer.json()["error"]


def test_fields_put_unknown_field_answers_400_and_keeps_mapping(api: AdminApi) -> None:
    good = api.jira.add_custom_field("Sender name")
    api.call("PUT", "/settings/fields", json={"mapping": {"sender_name": good}})
    answer = api.call("PUT", "/settings/fields", json={"mapping": {"sender_name": "customfield_9"}})
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "mapping.sender_name: Jira has no field customfield_9",
        "field": "mapping.sender_name",
    }
    assert api.call("GET", "/settings/fields").json()["mapping"]["sender_name"] == good


def test_fields_put_non_text_field_answers_400_saying_its_type(api: AdminApi) -> None:
    number_id = api.jira.add_custom_field("Ticket count", "number")
    answer = api.call("PUT", "/settings/fields", json={"mapping": {"language": number_id}})
    assert answer.status_code == 400
    assert answer.json()["field"] == "mapping.language"
    assert f"{number_id} (Ticket count) is a number field" in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mapping": {"reporter": "customfield_1"}}, "mapping.reporter"),
        ({"mapping": {"sender_name": 5}}, "mapping.sender_name"),
        ({"mapping": ["customfield_1"]}, "mapping"),
        ({"mapping": {}, "extra": 1}, "extra"),
    ],
)
def test_fields_put_malformed_answers_400_naming_field(
    api: AdminApi, body: dict[str, object], field: str
) -> None:
    answer = api.call("PUT", "/settings/fields", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field


def test_fields_put_same_field_for_two_roles_refused(api: AdminApi) -> None:
    field_id = api.jira.add_custom_field("Sender")
    mapping = {"sender_name": field_id, "sender_address": field_id}
    answer = api.call("PUT", "/settings/fields", json={"mapping": mapping})
    assert answer.status_code == 400
    assert "already mapped to sender_name" in answer.json()["error"]


def test_fields_create_makes_text_field_in_jira_and_maps_it(api: AdminApi) -> None:
    _let_app_administer(api.jira)
    assert api.call("GET", "/settings/fields").json()["can_create_fields"] is True
    answer = api.call("POST", "/settings/fields/create", json={"role": "sender_name"})
    assert answer.status_code == 200, answer.text
    created = api.jira.custom_fields()["Email sender name"]
    body = answer.json()
    assert body["mapping"]["sender_name"] == created
    assert {f["id"]: f["custom_type"] for f in body["custom_fields"]}[created] == "textfield"
    # Jira puts a new field on no screen; the page must say so.
    checked = api.call("GET", "/settings/fields?project_key=SUP&issue_type=Task").json()
    assert checked["roles"][0]["on_create_screen"] is False
    again = api.call("POST", "/settings/fields/create", json={"role": "sender_name"})
    assert again.status_code == 200
    assert len(api.jira.custom_fields()) == 1  # the field with that name was reused
    assert api.jira.validation_failures == []


def test_fields_create_recipients_is_a_paragraph_field(api: AdminApi) -> None:
    # A Cc list outgrows the 255 characters of a short text field.
    _let_app_administer(api.jira)
    answer = api.call("POST", "/settings/fields/create", json={"role": "recipients"})
    assert answer.status_code == 200, answer.text
    created = api.jira.custom_fields()["Email recipients"]
    types = {f["id"]: f["custom_type"] for f in answer.json()["custom_fields"]}
    assert types[created] == "textarea"
    assert answer.json()["mapping"]["recipients"] == created
    assert api.jira.validation_failures == []


def test_fields_create_refused_by_jira_answers_409_with_reason(api: AdminApi) -> None:
    answer = api.call("POST", "/settings/fields/create", json={"role": "language"})
    assert answer.status_code == 409
    assert "Administer Jira" in answer.json()["error"]
    assert api.jira.custom_fields() == {}
    assert api.call("GET", "/settings/fields").json()["mapping"]["language"] is None


def test_fields_create_unknown_role_answers_400(api: AdminApi) -> None:
    answer = api.call("POST", "/settings/fields/create", json={"role": "reporter"})
    assert answer.status_code == 400
    assert answer.json()["field"] == "role"


# -- workaround user ----------------------------------------------------------------------


def test_workaround_user_token_is_write_only(api: AdminApi) -> None:
    assert api.call("GET", "/settings/workaround-user").json() == _user(None, False)
    saved = api.call("PUT", "/settings/workaround-user", json={"email": BOT, "api_token": TOKEN})
    assert saved.status_code == 200
    assert saved.json() == _user(BOT, True)
    kept = api.call("PUT", "/settings/workaround-user", json={"email": "bot2@example.com"})
    assert kept.json() == _user("bot2@example.com", True)
    stored = api.app.runtime.tenant_settings.workaround_user(api.tenant_id)
    assert stored is not None and stored.api_token == TOKEN
    assert api.call("DELETE", "/settings/workaround-user").json() == _user(None, False)
    assert api.app.runtime.tenant_settings.workaround_user(api.tenant_id) is None
    assert all(TOKEN not in answer.text for answer in api.answers)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not an address", "api_token": TOKEN}, "email"),
        ({"api_token": TOKEN}, "email"),
        ({"email": BOT, "api_token": ""}, "api_token"),
        ({"email": BOT, "api_token": 12}, "api_token"),
        ({"email": BOT}, "api_token"),  # no token stored yet
        ({"email": BOT, "api_token": TOKEN, "password": "x"}, "password"),
    ],
)
def test_workaround_user_bad_input_answers_400_naming_field(
    api: AdminApi, body: dict[str, object], field: str
) -> None:
    answer = api.call("PUT", "/settings/workaround-user", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field
    assert api.app.runtime.tenant_settings.workaround_user(api.tenant_id) is None


def test_workaround_test_good_token_passes_every_step_as_that_user(api: AdminApi) -> None:
    bot = api.jira.add_user("557058:bot", BOT, "Lookup Bot")
    api.jira.add_user("557058:someone", "someone@example.com", "Some One")
    api.jira.api_tokens[BOT] = TOKEN
    api.call("PUT", "/settings/workaround-user", json={"email": BOT, "api_token": TOKEN})
    before = len(api.jira.requests_log)
    answer = api.call(
        "POST",
        "/settings/workaround-user/test",
        json={"project_key": "SUP", "lookup": "someone@example.com"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True
    assert [(s["name"], s["ok"]) for s in body["steps"]] == [
        ("authenticate", True),
        ("browse_users", True),
        ("project", True),
    ]
    assert "Lookup Bot" in body["steps"][0]["detail"]
    assert "Some One" in body["steps"][1]["detail"]
    calls = api.jira.requests_log[before:]
    as_bot = [r for r in calls if r.auth == "basic" and r.caller_id == bot["accountId"]]
    assert {r.path for r in as_bot} == {
        "/rest/api/3/myself",
        "/rest/api/3/user/search",
        "/rest/api/3/project/SUP",
    }
    assert TOKEN not in answer.text


def test_workaround_test_bad_token_fails_sign_in_and_skips_the_rest(api: AdminApi) -> None:
    api.jira.add_user("557058:bot", BOT, "Lookup Bot")
    api.jira.api_tokens[BOT] = TOKEN
    api.call("PUT", "/settings/workaround-user", json={"email": BOT, "api_token": "wrong-token"})
    answer = api.call("POST", "/settings/workaround-user/test", json={"project_key": "SUP"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is False
    first, *rest = body["steps"]
    assert first["name"] == "authenticate" and not first["ok"]
    assert "refused this email and API token" in first["detail"]
    assert [s["name"] for s in rest] == ["browse_users", "project"]
    assert all(not s["ok"] and "not tried" in s["detail"] for s in rest)
    assert "wrong-token" not in answer.text


def test_workaround_test_unknown_project_and_hidden_address_fail_their_steps(
    api: AdminApi,
) -> None:
    api.jira.add_user("557058:bot", BOT, "Lookup Bot")
    api.jira.add_user("557058:shy", "shy@example.com", "Shy Person", email_visible=False)
    api.jira.api_tokens[BOT] = TOKEN
    api.call("PUT", "/settings/workaround-user", json={"email": BOT, "api_token": TOKEN})
    body = api.call(
        "POST",
        "/settings/workaround-user/test",
        json={"project_key": "NOPE", "lookup": "shy@example.com"},
    ).json()
    steps = {s["name"]: s for s in body["steps"]}
    assert steps["authenticate"]["ok"] and not body["ok"]
    assert not steps["browse_users"]["ok"]
    assert steps["project"] == {"name": "project", "ok": False, "detail": "cannot see project NOPE"}


def test_workaround_test_without_user_answers_409(api: AdminApi) -> None:
    answer = api.call("POST", "/settings/workaround-user/test")
    assert answer.status_code == 409
    assert "no workaround user" in answer.json()["error"]


def test_datacenter_site_says_so_and_refuses_a_workaround_user(
    running_app: RunningApp,
    fake_datacenter: FakeJiraDataCenter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Data Center PAT is of one account that looks users up itself: the wizard is told
    (`applies: false`, so it leaves the step out) and saving or testing one is refused."""
    tenant = connect_datacenter(monkeypatch, running_app, fake_datacenter)
    fake_datacenter.set_permissions(SERVICE_USER, "BROWSE_PROJECTS", "ADMINISTER")
    browser = sign_in_link(running_app.base_url, admin_link(capsys, fake_datacenter.base_url))
    headers = csrf_headers(browser)
    path = "/api/v1/settings/workaround-user"
    shown = browser.get(path)
    assert shown.status_code == 200
    assert shown.json() == {
        "email": None,
        "has_token": False,
        "site_kind": "datacenter",
        "applies": False,
    }
    saved = browser.put(path, json={"email": BOT, "api_token": TOKEN}, headers=headers)
    assert saved.status_code == 409
    assert saved.json()["error"].startswith("This is a Jira Data Center site: it needs no")
    assert running_app.runtime.tenant_settings.workaround_user(tenant.id) is None
    tested = browser.post(path + "/test", json={}, headers=headers)
    assert tested.status_code == 409 and "Data Center" in tested.json()["error"]
    assert TOKEN not in saved.text + tested.text
    cleared = browser.delete(path, headers=headers)  # removing one is never refused
    assert cleared.status_code == 200 and cleared.json()["applies"] is False


# -- tenants ------------------------------------------------------------------------------


def test_settings_other_tenant_cannot_read_or_change_them(
    api: AdminApi, other_site: AdminApi
) -> None:
    field_id = api.jira.add_custom_field("Sender name")
    api.call("PUT", "/settings/fields", json={"mapping": {"sender_name": field_id}})
    api.call("PUT", "/settings/workaround-user", json={"email": BOT, "api_token": TOKEN})
    foreign = other_site.token()

    seen = api.call("GET", "/settings/workaround-user", token=foreign).json()
    assert seen == _user(None, False)
    fields = api.call("GET", "/settings/fields", token=foreign).json()
    assert fields["mapping"]["sender_name"] is None
    assert field_id not in {f["id"] for f in fields["custom_fields"]}  # its own Jira's fields
    api.call("DELETE", "/settings/workaround-user", token=foreign)
    api.call(
        "PUT",
        "/settings/workaround-user",
        json={"email": "thief@example.com", "api_token": "other"},
        token=foreign,
    )
    refused = api.call(
        "PUT", "/settings/fields", json={"mapping": {"sender_name": field_id}}, token=foreign
    )
    assert refused.status_code == 400  # checked against the other site's own Jira

    mine = api.app.runtime.tenant_settings.workaround_user(api.tenant_id)
    assert mine is not None and (mine.email, mine.api_token) == (BOT, TOKEN)
    assert api.call("GET", "/settings/fields").json()["mapping"]["sender_name"] == field_id
    theirs = api.call("GET", "/settings/workaround-user", token=foreign).json()
    assert theirs == _user("thief@example.com", True)


def test_settings_not_admin_answers_403(api: AdminApi) -> None:
    api.jira.add_user("557058:agent", "agent@example.com", "Agent")
    token = api.token("557058:agent")
    for method, path in (
        ("GET", "/settings/fields"),
        ("GET", "/settings/workaround-user"),
        ("DELETE", "/settings/workaround-user"),
    ):
        assert api.call(method, path, token=token).status_code == 403


def test_workaround_test_credentials_sent_to_site_never_answered(api: AdminApi) -> None:
    """Basic auth went to the site (the fake saw it); no answer carries it, encoded or not."""
    api.jira.add_user("557058:bot", BOT, "Lookup Bot")
    api.jira.api_tokens[BOT] = TOKEN
    api.call("PUT", "/settings/workaround-user", json={"email": BOT, "api_token": TOKEN})
    api.call("POST", "/settings/workaround-user/test")
    assert any(r.auth == "basic" for r in api.jira.requests_log)
    encoded = base64.b64encode(f"{BOT}:{TOKEN}".encode()).decode()
    assert all(encoded not in answer.text for answer in api.answers)
