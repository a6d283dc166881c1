"""The pages Jira shows: each renders for a valid page token and refuses without one; what
they show from a request is escaped; their scripts never write HTML; the wizard's Jira
look-ups answer from the site."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from connector.admin.pages import MODULE_KEYS, PAGES, render_page
from connector.admin.static_files import STATIC_DIR
from connector.connect.jwt import encode_token, request_target
from descriptor.render import page_paths, render_descriptor
from tests.integration.admin_support import AdminApi
from tests.integration.conftest import RunningApp
from tests.integration.test_admin_openapi import _check as check_schema

# DOM APIs that parse a string as HTML: a page script using one could run mail-borne markup.
HTML_SINKS = re.compile(r"\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write)\b")
# `import ... from "./module.js"` in the pages' scripts.
LOCAL_IMPORT = re.compile(r"""from\s+["']\./([\w.-]+\.js)["']""")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Rendering does not depend on the database: one backend keeps this file fast."""
    return sqlite_url



def _page_url(api: AdminApi, path: str) -> str:
    token = encode_token(
        issuer=api.jira.client_key,
        shared_secret=api.jira.shared_secret,
        target=request_target("GET", path),
    )
    separator = "&" if "?" in path else "?"
    return f"{api.app.base_url}{path}{separator}jwt={token}"


def test_pages_every_declared_page_has_a_template() -> None:
    assert sorted(PAGES) == page_paths()


@pytest.mark.parametrize("path", sorted(PAGES))
def test_pages_with_page_token_render_with_their_script(api: AdminApi, path: str) -> None:
    response = httpx.get(_page_url(api, path), timeout=10)
    assert response.status_code == 200, response.text
    html = response.text
    assert api.jira.base_url in html  # the site it is installed on
    assert f'src="/static/{PAGES[path].script}"' in html
    assert "https://connect-cdn.atl-paas.net/all.js" in html
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' https://connect-cdn.atl-paas.net/all.js" in policy
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", sorted(PAGES))
def test_pages_without_token_are_refused(api: AdminApi, path: str) -> None:
    response = httpx.get(api.app.base_url + path, timeout=10)
    assert response.status_code == 401
    assert "opened from Jira" in response.text
    assert api.jira.base_url not in response.text


def test_pages_token_of_another_page_is_refused(api: AdminApi) -> None:
    url = _page_url(api, "/pages/email-log").replace("/pages/email-log", "/pages/setup")
    assert httpx.get(url, timeout=10).status_code == 401


def test_pages_project_key_from_the_url_is_escaped(api: AdminApi) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    query = httpx.QueryParams({"projectKey": hostile, "projectId": "1"})
    response = httpx.get(_page_url(api, f"/pages/project-settings?{query}"), timeout=10)
    assert response.status_code == 200
    assert hostile not in response.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in response.text


def test_pages_refusal_reason_is_escaped(api: AdminApi) -> None:
    # A token that is not a JWT: the refusal names the problem, as text.
    response = httpx.get(f"{api.app.base_url}/pages/admin?jwt=<b>not-a-token</b>", timeout=10)
    assert response.status_code == 401
    assert "<b>" not in response.text


def test_pages_scripts_write_text_never_html() -> None:
    scripts = sorted(STATIC_DIR.glob("*.js"))
    assert {s.name for s in scripts} >= {spec.script for spec in PAGES.values()}
    offenders = [
        f"{script.name}:{number}"
        for script in scripts
        for number, line in enumerate(script.read_text(encoding="utf-8").splitlines(), 1)
        if HTML_SINKS.search(line)
    ]
    assert offenders == []


def test_pages_script_imports_are_files_the_app_serves(running_app: RunningApp) -> None:
    imported = {
        name
        for script in STATIC_DIR.glob("*.js")
        for name in LOCAL_IMPORT.findall(script.read_text(encoding="utf-8"))
    }
    assert {"app.js", "address-rules.js", "outbound-connection.js", "jira-pickers.js"} <= imported
    for name in sorted(imported):
        response = httpx.get(f"{running_app.base_url}/static/{name}", timeout=10)
        assert response.status_code == 200, name


def test_pages_navigation_tabs_open_declared_admin_pages(api: AdminApi) -> None:
    modules = render_descriptor(base_url=api.app.base_url, app_key="mail-connector")["modules"]
    declared = {page["key"]: page["url"] for page in modules["adminPages"]}
    for nav, module_key in MODULE_KEYS.items():
        assert module_key in declared, nav
        assert PAGES[declared[module_key]].nav == nav
    html = httpx.get(_page_url(api, "/pages/notifications"), timeout=10).text
    for nav in MODULE_KEYS:
        assert f'data-navigate="{nav}"' in html
    assert 'data-module-notifications="mail-connector-notifications"' in html
    # The current tab is marked for screen readers as well as drawn so; the others are not.
    assert 'class="tab current" aria-current="page">Notifications</a>' in html
    assert html.count("aria-current") == 1


def test_pages_site_and_project_from_jira_are_escaped_on_every_page() -> None:
    hostile = '<script>alert("site")</script>'
    for path in PAGES:
        html = render_page(path, site=hostile, base_path="", project_key=hostile)
        assert hostile not in html, path
        assert "&lt;script&gt;alert(&#34;site&#34;)&lt;/script&gt;" in html, path


def test_pages_static_files_are_served_with_their_types(running_app: RunningApp) -> None:
    css = httpx.get(running_app.base_url + "/static/app.css", timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = httpx.get(running_app.base_url + "/static/app.js", timeout=10)
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(running_app.base_url + "/static/../pages.py", timeout=10).status_code == 404
    assert httpx.get(running_app.base_url + "/static/missing.js", timeout=10).status_code == 404


def test_pages_templates_use_no_unescaped_output() -> None:
    templates = Path(STATIC_DIR).with_name("templates")
    for template in templates.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "|safe" not in text and "autoescape false" not in text, template.name


def test_jira_projects_and_issue_types_come_from_the_site(api: AdminApi) -> None:
    api.jira.add_project("OPS", "Operations", issue_types=("Incident",))
    projects = api.call("GET", "/jira/projects")
    assert projects.status_code == 200, projects.text
    check_schema("JiraProjectList", projects.json())
    assert [(p["key"], p["name"]) for p in projects.json()["projects"]] == [
        ("OPS", "Operations"),
        ("SUP", "Support"),
    ]
    types = api.call("GET", "/jira/projects/SUP/issue-types")
    assert types.status_code == 200, types.text
    check_schema("JiraIssueTypeList", types.json())
    assert [t["name"] for t in types.json()["issue_types"]] == ["Task", "Bug"]


def test_jira_issue_types_of_unknown_project_is_404_naming_the_field(api: AdminApi) -> None:
    response = api.call("GET", "/jira/projects/NOPE/issue-types")
    assert response.status_code == 404
    assert response.json()["field"] == "project_key"
    assert "NOPE" in response.json()["error"]
    assert api.call("GET", "/jira/projects/not%20a%20key/issue-types").status_code == 400


def test_jira_lookups_need_an_administrator(api: AdminApi) -> None:
    api.jira.add_user("557058:agent", "agent@example.com", "Agent")
    response = api.call("GET", "/jira/projects", token=api.token("557058:agent"))
    assert response.status_code == 403


def test_pages_notifications_password_removal_is_confirmed_and_puts_null(api: AdminApi) -> None:
    html = httpx.get(_page_url(api, "/pages/notifications"), timeout=10).text
    # Offered only once a password is stored, and only after a confirmation.
    assert re.search(r'id="password-stored"[^>]*hidden', html)
    assert re.search(r'id="password-remove-confirm"[^>]*hidden', html)
    assert ">Remove stored password</button>" in html
    script = (STATIC_DIR / "outbound-connection.js").read_text(encoding="utf-8")
    assert "{ ...read(), password: null }" in script

    # The contract the script relies on: null forgets the password, unless it still signs in.
    body = {
        "host": "smtp.example.com",
        "username": "mailer",
        "from_address": "support@example.com",
    }
    saved = api.call("PUT", "/outbound-connection", json={**body, "password": "Outbound-1"})
    assert saved.status_code == 200 and saved.json()["has_password"] is True
    refused = api.call("PUT", "/outbound-connection", json={**body, "password": None})
    assert refused.status_code == 400 and refused.json()["field"] == "password"
    removed = api.call(
        "PUT", "/outbound-connection", json={**body, "auth": "none", "password": None}
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["has_password"] is False
    assert api.call("GET", "/outbound-connection").json()["has_password"] is False
