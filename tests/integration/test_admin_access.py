"""Only a Jira administrator of the tenant may use the admin API, and only on that tenant's data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.admin.access import AdminCache
from connector.connect.jwt import RequestTarget, encode_token
from connector.tenant import Tenant
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import AdminApi, make_admin_api


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Access is decided before any storage is touched: one backend keeps this file fast."""
    return sqlite_url



@pytest.fixture
def other_site(api: AdminApi) -> Iterator[AdminApi]:
    """A second Jira site with the app installed, and an administrator of its own."""
    with FakeJira(app_key="mail-connector", key_server=api.jira.key_server) as other:
        yield make_admin_api(api.app, other)


def _permission_checks(jira: FakeJira) -> int:
    return sum(1 for r in jira.requests_log if r.path == "/rest/api/3/permissions/check")


def test_api_without_token_answers_401(api: AdminApi) -> None:
    response = api.call("GET", "/mail-sources", authorization="")
    assert response.status_code == 401
    assert "no JWT" in response.json()["error"]


def test_api_token_with_wrong_secret_answers_401(api: AdminApi) -> None:
    api.jira.shared_secret = "not-the-secret-the-app-knows-" + "x" * 20
    response = api.call("GET", "/mail-sources")
    assert response.status_code == 401


def test_api_qsh_token_for_other_path_answers_401(api: AdminApi) -> None:
    token = api.qsh_token("GET", "/api/v1/email-log")
    assert api.call("GET", "/mail-sources", token=token).status_code == 401


def test_api_qsh_token_for_the_request_is_accepted(api: AdminApi) -> None:
    token = api.qsh_token("GET", "/api/v1/mail-sources?q=support")
    response = api.call("GET", "/mail-sources?q=support", token=token)
    assert response.status_code == 200
    assert response.json() == {"sources": []}


def test_api_qsh_token_for_path_with_encoded_question_mark_is_accepted(api: AdminApi) -> None:
    """`%3F` in a path segment is part of the path: the qsh covers the decoded path whole (it
    used to be split at the `?`, so a correctly signed request was refused with 401)."""
    target = RequestTarget(method="GET", path="/api/v1/jira/projects/A?B#C/issue-types", query=())
    token = encode_token(
        issuer=api.jira.client_key,
        shared_secret=api.jira.shared_secret,
        target=target,
        extra_claims={"sub": api.account_id},
    )
    response = api.call("GET", "/jira/projects/A%3FB%23C/issue-types", token=token)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "project_key"


def test_api_user_not_admin_answers_403_with_reason(api: AdminApi) -> None:
    api.jira.add_user("557058:agent", "agent@example.com", "Agent")
    api.jira.set_permissions("BROWSE_PROJECTS", account_id="557058:agent")
    response = api.call("GET", "/mail-sources", token=api.token("557058:agent"))
    assert response.status_code == 403
    assert "Jira administrators" in response.json()["error"]


def test_api_token_without_user_answers_403(api: AdminApi) -> None:
    response = api.call("GET", "/mail-sources", token=api.token(""))
    assert response.status_code == 403
    assert "names no user" in response.json()["error"]
    assert _permission_checks(api.jira) == 0


def test_api_non_admin_invalid_body_answers_403_not_400(api: AdminApi) -> None:
    response = api.call("POST", "/mail-sources", json={"bogus": 1}, token=api.token("557058:x"))
    assert response.status_code == 403


def test_api_admin_check_asks_jira_once_for_several_calls(api: AdminApi) -> None:
    for _ in range(3):
        assert api.call("GET", "/mail-sources").status_code == 200
    assert _permission_checks(api.jira) == 1


def test_api_admin_check_jira_failing_answers_502(api: AdminApi) -> None:
    api.jira.inject_fault(500, times=5, path_contains="/permissions/check")
    response = api.call("GET", "/mail-sources")
    assert response.status_code == 502
    assert "administrator" in response.json()["error"]


def test_api_other_tenant_cannot_reach_source_answers_404(
    api: AdminApi, other_site: AdminApi
) -> None:
    source = api.create(name="Mine")
    path = f"/mail-sources/{source['id']}"
    foreign = other_site.token()
    attempts = [
        ("GET", path, None),
        ("PUT", path, {**source, "name": "Stolen"}),
        ("DELETE", path, None),
        ("POST", path + "/enable", {}),
        ("POST", path + "/disable", None),
        ("POST", path + "/test", None),
        ("POST", path + "/poll", None),
        ("GET", path + "/poll", None),
    ]
    for method, target, body in attempts:
        response = api.call(method, target, json=body, token=foreign)
        assert response.status_code == 404, (method, target, response.text)
    # The same answer as for an id that exists nowhere: existence is not revealed.
    missing = api.call("GET", "/mail-sources/999999", token=foreign)
    assert missing.json() == {"error": "no mail source with id 999999", "field": None}
    assert response.json() == {"error": f"no mail source with id {source['id']}", "field": None}
    still = api.call("GET", path)
    assert still.status_code == 200
    assert still.json()["name"] == "Mine"


def test_api_other_tenant_list_shows_only_its_own_sources(
    api: AdminApi, other_site: AdminApi
) -> None:
    api.create(name="First site's")
    other_site.create(name="Second site's")
    mine = [s["name"] for s in api.call("GET", "/mail-sources").json()["sources"]]
    theirs = [s["name"] for s in other_site.call("GET", "/mail-sources").json()["sources"]]
    assert mine == ["First site's"]
    assert theirs == ["Second site's"]


def test_api_admin_of_other_site_is_not_admin_here(api: AdminApi, other_site: AdminApi) -> None:
    # A real administrator, but of the other site: this site's Jira says no.
    token = api.token(other_site.account_id)
    assert api.call("GET", "/mail-sources", token=token).status_code == 403


# --- the cache itself ---------------------------------------------------------------------


def _tenant(client_key: str = "jira:one") -> Tenant:
    return Tenant(1, client_key, "https://x.example", "https://x.example", "jira", "s", True, True)


def test_admin_cache_answer_expires_after_ttl_asks_again() -> None:
    now = [0.0]
    asked: list[str] = []

    def lookup(_tenant: Tenant, account_id: str) -> bool:
        asked.append(account_id)
        return True

    cache = AdminCache(lookup, allowed_ttl=60, clock=lambda: now[0])
    assert cache.is_admin(_tenant(), "a")
    now[0] = 59.0
    assert cache.is_admin(_tenant(), "a")
    now[0] = 61.0
    assert cache.is_admin(_tenant(), "a")
    assert asked == ["a", "a"]


def test_admin_cache_refusal_kept_shorter_than_grant() -> None:
    now = [0.0]
    answers = iter([False, True])
    cache = AdminCache(
        lambda _t, _a: next(answers), allowed_ttl=60, refused_ttl=10, clock=lambda: now[0]
    )
    assert not cache.is_admin(_tenant(), "a")
    now[0] = 11.0
    assert cache.is_admin(_tenant(), "a")


def test_admin_cache_full_forgets_oldest() -> None:
    asked: list[tuple[str, str]] = []

    def lookup(tenant: Tenant, account_id: str) -> bool:
        asked.append((tenant.client_key, account_id))
        return True

    cache = AdminCache(lookup, max_entries=2)
    for account in ("a", "b", "c", "a"):
        cache.is_admin(_tenant(), account)
    cache.is_admin(_tenant("jira:two"), "c")
    assert asked == [("jira:one", a) for a in ("a", "b", "c", "a")] + [("jira:two", "c")]


def test_project_admin_sees_their_projects_feeds_but_not_the_sources(api: AdminApi) -> None:
    """A project administrator opens the project's settings tab: its feeds answer, the
    site-wide admin API still refuses; someone who administers no project is refused both."""
    api.create(name="Support inbox")
    api.jira.add_user("557058:lead", "lead@example.com", "Project Lead")
    api.jira.set_permissions("BROWSE_PROJECTS", "ADMINISTER_PROJECTS", account_id="557058:lead")
    lead = api.token("557058:lead")
    feeds = api.call("GET", "/projects/SUP/feeds", token=lead)
    assert feeds.status_code == 200, feeds.text
    assert [f["source_name"] for f in feeds.json()["feeds"]] == ["Support inbox"]
    assert feeds.json()["feeds"][0]["messages_today"] == 0
    assert api.call("GET", "/mail-sources", token=lead).status_code == 403
    # A project Jira does not know is none they administer.
    assert api.call("GET", "/projects/NOPE/feeds", token=lead).status_code == 403

    api.jira.add_user("557058:agent", "agent@example.com", "Agent")
    api.jira.set_permissions("BROWSE_PROJECTS", account_id="557058:agent")
    refused = api.call("GET", "/projects/SUP/feeds", token=api.token("557058:agent"))
    assert refused.status_code == 403
    assert "administrators of SUP" in refused.json()["error"]
