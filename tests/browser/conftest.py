"""A real browser (Debian's Chromium, driven by Playwright) on the admin pages of the running app.

Jira is the fake one, so the Connect JavaScript API (`AP`) is a stub this file serves in place
of Atlassian's CDN script, for the test's browser only: its `AP.context.getToken` answers with
a context token minted here for the installed tenant, as Jira's would for an administrator.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from connector.admin.pages import AP_SCRIPT
from connector.connect.jwt import MAX_TOKEN_LIFETIME_SECONDS, encode_token, request_target
from tests.conftest import skip_or_fail
from tests.fakes.catalogue import DEFAULT_PERMISSIONS
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import AdminApi, make_admin_api

# The app and fake Jira fixtures of the integration tests, shared rather than copied.
from tests.integration.conftest import (  # noqa: F401
    RunningApp,
    fake_datacenter,
    fake_jira,
    running_app,
    template_budget,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Response, Route

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
# Deque's axe-core, the accessibility engine browsers' own audits use: `.ci/run` installs it
# from the npm registry into the ignored build/ folder beside Atlassian's manifest validator.
AXE_SCRIPT = Path(
    os.environ.get(
        "AXE_CORE_SCRIPT",
        ROOT / "build" / "forge-manifest" / "node_modules" / "axe-core" / "axe.min.js",
    )
)
AXE_PATH = "/test-browser-only/axe.min.js"
# What fails a page: the two impacts axe says block people from using it at all.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
# As long as the app accepts: one token serves a whole test, as Jira's serve a page visit.
_TOKEN_TTL_SECONDS = MAX_TOKEN_LIFETIME_SECONDS

_AP_STUB = """
window.AP = {
  context: {
    getToken(callback) {
      const token = %(token)s;
      if (callback) callback(token);
      return Promise.resolve(token);
    },
  },
  user: {
    getTimeZone(callback) { callback(window.__timeZone || "Europe/Berlin"); },
  },
  navigator: {
    go(target, context) { (window.__navigations = window.__navigations || []).push(context); },
  },
  resize() {},
  sizeToParent() {},
};
"""


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The pages do not depend on the database backend: one keeps the browser tests lean."""
    return sqlite_url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed (uv sync installs it)")
        raise AssertionError("unreachable") from None
    if not CHROMIUM.exists():
        skip_or_fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            # Root in CI containers cannot use Chromium's sandbox; the pages are our own.
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class AdminBrowser:
    """One administrator's browser tab on the app's pages, with what went wrong on them."""

    api: AdminApi
    page: Page
    axe_script: Path
    account_id: str  # the Jira user the page's context tokens name (an administrator at first)
    problems: list[str] = field(default_factory=list)

    def open(self, path: str) -> None:
        """Load a page as Jira would: the URL signed with a page token (qsh over it)."""
        token = encode_token(
            issuer=self.api.jira.client_key,
            shared_secret=self.api.jira.shared_secret,
            target=request_target("GET", path),
        )
        separator = "&" if "?" in path else "?"
        response = self.page.goto(f"{self.api.app.base_url}{path}{separator}jwt={token}")
        assert response is not None and response.status == 200, path

    def screenshot(self, name: str) -> None:
        """Save the page as it is now, and check it with axe-core: each state a test saves is a
        state an admin meets, so each is audited."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        self.assert_accessible(name)

    def axe_violations(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is now."""
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            # From the app's own origin (the test's browser serves it, see admin_browser): the
            # pages' Content-Security-Policy refuses inline scripts, and stays on in the tests.
            self.page.add_script_tag(url=f"{self.api.app.base_url}{AXE_PATH}")
        result: dict[str, Any] = self.page.evaluate(
            "axe.run(document, {resultTypes: ['violations']})"
        )
        return [v for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS]

    def assert_accessible(self, state: str) -> None:
        violations = self.axe_violations()
        described = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(" ".join(node["target"]) for node in v["nodes"][:5])
            for v in violations
        ]
        if described:
            pytest.fail(f"accessibility violations on {state}:\n" + "\n".join(described))

    def assert_no_server_errors(self) -> None:
        assert self.problems == []


@pytest.fixture
def admin_browser(
    browser: Browser,
    running_app: RunningApp,  # noqa: F811
    fake_jira: FakeJira,  # noqa: F811
) -> Iterator[AdminBrowser]:
    if not AXE_SCRIPT.is_file():
        reason = (
            "axe-core is not installed in build/forge-manifest/node_modules "
            "(run the npm install line of .ci/run, or set AXE_CORE_SCRIPT)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI must have it")
        skip_or_fail(reason)
    api = make_admin_api(running_app, fake_jira)
    # The app's own rights as its ADMIN scope gives them: it may create the custom fields.
    fake_jira.set_permissions(*DEFAULT_PERMISSIONS, "ADMINISTER")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    session = AdminBrowser(api=api, page=page, axe_script=AXE_SCRIPT, account_id=api.account_id)

    def serve_stub(route: Route) -> None:
        # Minted at each page load for whoever the test says is signed in to Jira.
        context_token = encode_token(
            issuer=fake_jira.client_key,
            shared_secret=fake_jira.shared_secret,
            target=None,
            ttl_seconds=_TOKEN_TTL_SECONDS,
            extra_claims={"sub": session.account_id},
        )
        stub = _AP_STUB % {"token": json.dumps(context_token)}
        route.fulfill(status=200, content_type="text/javascript", body=stub)

    def on_response(response: Response) -> None:
        if response.status >= 500:
            session.problems.append(f"HTTP {response.status} {response.url}")

    def on_error(error: Any) -> None:
        session.problems.append(f"page error: {error}")

    def on_console(message: ConsoleMessage) -> None:
        # Resource 404s are expected (the pages probe optional endpoints); script errors not.
        if message.type == "error" and "Failed to load resource" not in message.text:
            session.problems.append(f"console error: {message.text}")

    def serve_axe(route: Route) -> None:
        route.fulfill(status=200, content_type="text/javascript", path=AXE_SCRIPT)

    page.route(AP_SCRIPT, serve_stub)
    page.route(f"**{AXE_PATH}", serve_axe)
    page.on("response", on_response)
    page.on("pageerror", on_error)
    page.on("console", on_console)
    try:
        yield session
    finally:
        context.close()


def clean_artifacts() -> None:
    """Screenshots of an earlier run would hide a page this run failed to reach."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
