"""`/api/v1/mail-sources`: create, read, search, replace, delete; validation names the field;
secrets are write-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.admin.errors import ApiError
from connector.admin.source_body import spec_from_json
from tests.integration.admin_support import PASSWORD, AdminApi, source_body


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Storage on both backends is the repositories' tests' business (and the email log's
    counts are tested on both there): one backend keeps this file fast."""
    return sqlite_url



def _error(api: AdminApi, body: dict[str, Any], method: str = "POST", path: str = "") -> Any:
    response = api.call(method, path or "/mail-sources", json=body)
    assert response.status_code == 400, response.text
    return response.json()


def test_create_source_starts_disabled_without_password_in_answer(api: AdminApi) -> None:
    response = api.call("POST", "/mail-sources", json=source_body())
    created = response.json()
    assert response.status_code == 201
    assert response.headers["location"] == f"/api/v1/mail-sources/{created['id']}"
    assert created["enabled"] is False
    assert created["status"] == "disabled"
    assert created["has_password"] is True
    assert "password" not in created
    assert PASSWORD not in response.text
    assert api.app.runtime.sources.password(created["id"]) == PASSWORD


def test_create_source_defaults_filled_for_custom_imap(api: AdminApi) -> None:
    created = api.create()
    assert (created["protocol"], created["port"], created["security"]) == ("imap", 993, "ssl")
    assert created["folder"] == "INBOX"
    assert created["interval_minutes"] == 1
    assert created["policy"]["drop_automatic"] is True


def test_create_source_provider_preset_fills_host_port_security(api: AdminApi) -> None:
    created = api.create(provider="gmail", host=..., username="desk@gmail.example")
    assert (created["host"], created["port"], created["security"]) == (
        "imap.gmail.com",
        993,
        "ssl",
    )


def test_create_source_preset_port_overridden_keeps_admin_choice(api: AdminApi) -> None:
    created = api.create(provider="yahoo", protocol="pop3", host=..., port=1995)
    assert (created["host"], created["port"]) == ("pop.mail.yahoo.com", 1995)
    assert created["after_processing"] == "delete"


def test_create_source_without_password_has_password_false(api: AdminApi) -> None:
    created = api.create(password=...)
    assert created["has_password"] is False


def test_create_source_tls_checks_off_carries_warning(api: AdminApi) -> None:
    created = api.create(verify_tls=False)
    assert len(created["warnings"]) == 1
    assert "certificate checks are off" in created["warnings"][0]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"enabled": True}, "enabled"),
        ({"port": "993"}, "port"),
        ({"port": True}, "port"),
        ({"verify_tls": "yes"}, "verify_tls"),
        ({"name": None}, "name"),
        ({"name": ...}, "name"),
        ({"project_key": "not a key"}, "project_key"),
        ({"interval_minutes": 61}, "interval_minutes"),
        ({"exclusion_folders": "Spam"}, "exclusion_folders"),
        ({"provider": "aol"}, "provider"),
        ({"protocol": "pop3", "folder": "Archive"}, "folder"),
        ({"after_processing": "move"}, "success_folder"),
        ({"host": "imap.example.com/path"}, "host"),
        ({"policy": {"rate_limit_per_hour": "20"}}, "policy.rate_limit_per_hour"),
        ({"policy": {"labels": ["two words"]}}, "policy.labels"),
        ({"policy": {"nonsense": 1}}, "policy.nonsense"),
        (
            {"policy": {"field_mappings": [{"source": "moon", "field_id": "x"}]}},
            "policy.field_mappings",
        ),
        ({"policy": []}, "policy"),
    ],
)
def test_spec_from_json_invalid_setting_names_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as refused:
        spec_from_json(source_body(**overrides))
    assert refused.value.status == 400
    assert refused.value.field == field
    assert refused.value.message.startswith(field + ":")


def test_create_source_invalid_setting_answers_400_naming_field(api: AdminApi) -> None:
    error = _error(api, source_body(port="993"))
    assert error == {"error": "port: must be a whole number", "field": "port"}
    nested = _error(api, source_body(policy={"rate_limit_per_hour": -1}))
    assert nested["field"] == "policy.rate_limit_per_hour"
    assert api.call("GET", "/mail-sources").json() == {"sources": []}


def test_create_source_body_not_json_object_answers_400(api: AdminApi) -> None:
    assert api.call("POST", "/mail-sources", content=b"[1, 2]").status_code == 400
    response = api.call("POST", "/mail-sources", content=b"{not json")
    assert response.status_code == 400
    assert "not JSON" in response.json()["error"]


def test_get_source_unknown_id_answers_404(api: AdminApi) -> None:
    response = api.call("GET", "/mail-sources/424242")
    assert response.status_code == 404
    assert response.json()["error"] == "no mail source with id 424242"


def test_update_source_without_password_keeps_stored_one(api: AdminApi) -> None:
    created = api.create()
    body = source_body(name="Renamed", password=..., folder="Support/Incoming")
    response = api.call("PUT", f"/mail-sources/{created['id']}", json=body)
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["folder"] == "Support/Incoming"
    assert response.json()["has_password"] is True
    assert api.app.runtime.sources.password(created["id"]) == PASSWORD


def test_update_source_with_password_replaces_it(api: AdminApi) -> None:
    created = api.create()
    body = source_body(password="the-new-one")
    response = api.call("PUT", f"/mail-sources/{created['id']}", json=body)
    assert response.status_code == 200
    assert "the-new-one" not in response.text
    assert api.app.runtime.sources.password(created["id"]) == "the-new-one"


def test_update_source_replaces_settings_left_out_with_defaults(api: AdminApi) -> None:
    created = api.create(description="old words", interval_minutes=15)
    response = api.call("PUT", f"/mail-sources/{created['id']}", json=source_body(description=...))
    assert response.json()["description"] == ""
    assert response.json()["interval_minutes"] == 1


def test_update_source_invalid_names_field_and_changes_nothing(api: AdminApi) -> None:
    created = api.create()
    path = f"/mail-sources/{created['id']}"
    error = _error(api, source_body(timeout_seconds=0), method="PUT", path=path)
    assert error["field"] == "timeout_seconds"
    assert api.call("GET", path).json()["timeout_seconds"] == created["timeout_seconds"]


def test_update_source_answer_sent_back_refused_as_read_only(api: AdminApi) -> None:
    created = api.create()
    error = _error(api, created, method="PUT", path=f"/mail-sources/{created['id']}")
    assert error["field"] == "id"
    assert "read-only" in error["error"]


def test_list_sources_search_matches_name_description_host_username(api: AdminApi) -> None:
    api.create(name="Sales", description="orders", host="mx.sales.example", username="s@x.example")
    api.create(name="Billing desk", description="invoices", host="imap.b.example", username="b")
    api.create(
        name="Helpdesk", description="Tier 2", host="imap.h.example", username="hq@x.example"
    )

    def names(query: str) -> list[str]:
        response = api.call("GET", f"/mail-sources?q={query}")
        assert response.status_code == 200
        return [source["name"] for source in response.json()["sources"]]

    assert names("") == ["Sales", "Billing desk", "Helpdesk"]
    assert names("DESK") == ["Billing desk", "Helpdesk"]
    assert names("invoices") == ["Billing desk"]
    assert names("mx.sales") == ["Sales"]
    assert names("hq@") == ["Helpdesk"]
    assert names("nothing-like-this") == []


def test_list_sources_unknown_filter_answers_400(api: AdminApi) -> None:
    response = api.call("GET", "/mail-sources?status=ok")
    assert response.status_code == 400
    assert response.json()["field"] == "status"


def test_list_sources_shows_poll_status_and_error(api: AdminApi) -> None:
    created = api.create()
    sources = api.app.runtime.sources
    sources.set_enabled(api.tenant_id, created["id"], True)
    later = datetime.now(UTC) + timedelta(minutes=1)
    sources.record_poll(created["id"], ok=False, message="LOGIN refused", next_poll_at=later)
    shown = api.call("GET", "/mail-sources").json()["sources"][0]
    assert shown["status"] == "error"
    assert shown["status_message"] == "LOGIN refused"
    assert shown["last_poll_at"] is not None
    assert shown["next_poll_at"] == later.isoformat()


def test_delete_source_says_what_is_kept_and_removes_it(api: AdminApi) -> None:
    created = api.create()
    api.app.runtime.email_log.begin(api.tenant_id, created["id"], "INBOX:1:1", size=10)
    response = api.call("DELETE", f"/mail-sources/{created['id']}")
    assert response.status_code == 200
    answer = response.json()
    assert answer["deleted"] is True
    assert any("issues" in kept for kept in answer["kept"])
    assert any("participants" in kept for kept in answer["kept"])
    assert any("email log" in removed for removed in answer["removed"])
    assert api.call("GET", f"/mail-sources/{created['id']}").status_code == 404
    assert api.app.runtime.email_log.search(api.tenant_id) == []
    assert api.call("DELETE", f"/mail-sources/{created['id']}").status_code == 404


def test_sources_password_never_in_any_answer(api: AdminApi) -> None:
    created = api.create()
    path = f"/mail-sources/{created['id']}"
    api.call("GET", path)
    api.call("GET", "/mail-sources")
    api.call("PUT", path, json=source_body(password=PASSWORD + "2"))
    api.call("POST", path + "/disable")
    api.call("DELETE", path)
    assert len(api.answers) == 6
    assert all(PASSWORD not in answer.text for answer in api.answers)


def test_source_id_beyond_64_bits_answers_404_not_500(api: AdminApi) -> None:
    """No row has such an id; the database driver cannot even take it (it used to be a 500)."""
    huge = 2**63
    for method, suffix in (("GET", ""), ("PUT", ""), ("POST", "/test"), ("POST", "/route-check")):
        body = source_body() if method == "PUT" else {}
        response = api.call(method, f"/mail-sources/{huge}{suffix}", json=body)
        assert response.status_code == 404, (method, suffix, response.text)
        assert response.json()["field"] is None
    assert api.call("GET", f"/mail-sources/{2**63 - 1}").status_code == 404


def test_source_path_that_is_no_id_answers_json_404(api: AdminApi) -> None:
    """`-1` matches no route (ids are digits); the router's answer is the API's JSON shape."""
    response = api.call("GET", "/mail-sources/-1")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error", "field"}
    wrong_method = api.call("PATCH", "/mail-sources")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["field"] is None
    assert "GET" in wrong_method.headers["allow"]


def test_list_says_while_jira_asked_us_to_wait(api: AdminApi) -> None:
    api.create()
    assert "jira_paused" not in api.call("GET", "/mail-sources").json()
    tenant = api.app.runtime.tenants.get(api.jira.client_key)
    assert tenant is not None
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    store = api.app.runtime.jira_limiter.store
    store.pause("site", tenant.base_url, "", until, "jira-quota-tenant-based")
    store.pause("site", "https://other.atlassian.net", "", until + timedelta(hours=1), "x")
    paused = api.call("GET", "/mail-sources").json()["jira_paused"]
    assert paused == {
        "until": until.isoformat(),
        "reason": "jira-quota-tenant-based",
        "message": f"Jira asked us to wait until {until:%H:%M} UTC",
    }
    # The app's own pause, when Jira's pool for every site is empty, holds this site too.
    later = until + timedelta(minutes=20)
    store.pause("app", "", "", later, "jira-quota-global-based")
    assert api.call("GET", "/mail-sources").json()["jira_paused"]["reason"] == (
        "jira-quota-global-based"
    )
