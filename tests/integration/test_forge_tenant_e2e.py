"""A site installed only through Forge (no Connect secret): its admin sets up a mailbox through
the admin API with a Forge Invocation Token, and mail becomes issues through Atlassian's
gateway URL with the app system token; an expired token makes polls wait, not fail."""

from __future__ import annotations

import uuid

import pytest

from connector.jira.auth import PENDING_MESSAGE
from connector.wiring import poll_source
from tests.fakes.forge import FakeForge
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import dovecot_body
from tests.integration.conftest import RunningApp
from tests.integration.forge_support import REFRESH, ForgeSite
from tests.integration.mailbox_support import mail
from tests.servers.dovecot import Dovecot, MailUser

OTHER_INSTALLATION = "ari:cloud:ecosystem::installation/9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"


@pytest.fixture
def admin(fake_jira: FakeJira) -> str:
    account_id = f"557058:admin-{uuid.uuid4()}"
    fake_jira.add_user(account_id, "admin@example.com", "Ada Admin")
    fake_jira.set_permissions("ADMINISTER", account_id=account_id)
    fake_jira.add_project("SUP", "Support", issue_types=("Task",))
    return account_id


@pytest.fixture
def site(forge_app: RunningApp, fake_jira: FakeJira, forge: FakeForge, admin: str) -> ForgeSite:
    installed = ForgeSite(forge_app, fake_jira, forge)
    installed.install()
    return installed


def _enabled_source(site: ForgeSite, admin: str, dovecot: Dovecot, user: MailUser) -> int:
    created = site.admin_call(
        "POST", "/mail-sources", principal=admin, json=dovecot_body(dovecot, user)
    )
    assert created.status_code == 201, created.text
    source_id = int(created.json()["id"])
    enabled = site.admin_call("POST", f"/mail-sources/{source_id}/enable", principal=admin)
    assert enabled.status_code == 200, enabled.text
    baseline = poll_source(site.app.runtime, source_id, owner="test")
    assert baseline.ok and baseline.counts == {}, baseline.message
    return source_id


def test_forge_only_tenant_mail_becomes_issue_with_system_token(
    site: ForgeSite, admin: str, dovecot: Dovecot, mail_user: MailUser
) -> None:
    source_id = _enabled_source(site, admin, dovecot, mail_user)
    dovecot.deliver(mail_user, mail("Printer on fire", "Room 4.").as_bytes())
    result = poll_source(site.app.runtime, source_id, owner="test")
    assert result.ok, result.message
    assert result.counts == {"created": 1}
    jira = site.jira
    assert jira.issue_keys() == ["SUP-1"]
    issue = jira.issue("SUP-1")
    assert issue is not None and issue["fields"]["summary"] == "Printer on fire"
    created = [r for r in jira.requests_log if r.method == "POST" and r.path.endswith("/issue")]
    assert created and all(r.auth == "system" and r.status == 201 for r in created)
    assert {r.auth for r in jira.requests_log} == {"system"}  # never a Connect JWT


def test_forge_admin_fit_for_another_installation_reaches_none_of_this_data(
    site: ForgeSite, admin: str, dovecot: Dovecot, mail_user: MailUser
) -> None:
    source_id = _enabled_source(site, admin, dovecot, mail_user)
    other = ForgeSite(site.app, site.jira, site.forge, installation_id=OTHER_INSTALLATION)
    other.install()
    assert other.tenant().id != site.tenant().id
    listed = other.admin_call("GET", "/mail-sources", principal=admin)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"sources": []}
    for method, path in (
        ("GET", f"/mail-sources/{source_id}"),
        ("POST", f"/mail-sources/{source_id}/disable"),
        ("DELETE", f"/mail-sources/{source_id}"),
    ):
        answer = other.admin_call(method, path, principal=admin)
        assert answer.status_code == 404, (method, path, answer.text)
    own = site.admin_call("GET", f"/mail-sources/{source_id}", principal=admin)
    assert own.status_code == 200 and own.json()["enabled"] is True


def test_forge_admin_fit_refused_for_unknown_installation_and_non_admin(
    site: ForgeSite, admin: str
) -> None:
    stranger = ForgeSite(site.app, site.jira, site.forge, installation_id=OTHER_INSTALLATION)
    unknown = stranger.admin_call("GET", "/mail-sources", principal=admin)
    assert unknown.status_code == 401
    assert "no installation" in unknown.json()["error"]
    site.jira.add_user("557058:agent", "agent@example.com", "Agent")
    not_admin = site.admin_call("GET", "/mail-sources", principal="557058:agent")
    assert not_admin.status_code == 403
    no_user = site.admin_call("GET", "/mail-sources", principal=None)
    assert no_user.status_code == 403
    assert site.admin_call("GET", "/mail-sources", principal=admin).status_code == 200


def test_forge_expired_system_token_poll_waits_and_fails_no_mail(
    site: ForgeSite, admin: str, dovecot: Dovecot, mail_user: MailUser
) -> None:
    source_id = _enabled_source(site, admin, dovecot, mail_user)
    runtime = site.app.runtime
    expired = site.jira.system_tokens.issue(lifetime_seconds=-120)
    assert site.send(REFRESH, expired).status_code == 200
    dovecot.deliver(mail_user, mail("Still waiting", "Anyone there?").as_bytes())
    before = len(site.jira.requests_log)

    waited = poll_source(runtime, source_id, owner="test")
    assert waited.skipped and waited.message == PENDING_MESSAGE
    source = runtime.sources.find(source_id)
    assert source is not None
    assert source.status_message == PENDING_MESSAGE
    assert source.consecutive_failures == 0
    assert runtime.email_log.search(site.tenant().id, limit=10) == []
    assert len(site.jira.requests_log) == before  # nothing was sent with the dead token

    assert site.send(REFRESH, site.jira.system_tokens.issue()).status_code == 200
    resumed = poll_source(runtime, source_id, owner="test")
    assert resumed.ok and resumed.counts == {"created": 1}, resumed.message
    assert site.jira.issue_keys() == ["SUP-1"]


def test_forge_admin_call_hands_over_a_fresh_system_token(site: ForgeSite, admin: str) -> None:
    expired = site.jira.system_tokens.issue(lifetime_seconds=-120)
    assert site.send(REFRESH, expired).status_code == 200
    fresh = site.jira.system_tokens.issue()
    listed = site.admin_call("GET", "/mail-sources", principal=admin, system_token=fresh)
    assert listed.status_code == 200, listed.text
    forge = site.tenant().forge
    assert forge is not None and forge.system_token == fresh


def test_forge_admin_call_names_the_site_address_shown_for_the_tenant(
    site: ForgeSite, admin: str
) -> None:
    assert site.tenant().display_url == site.jira.api_base_url  # all Forge's events say
    hostile = {"cloudId": site.jira.system_tokens.cloud_id, "siteUrl": "javascript:alert(1)"}
    assert site.admin_call("GET", "/mail-sources", principal=admin, context=hostile).is_success
    assert site.tenant().display_url == site.jira.api_base_url
    context = {"cloudId": site.jira.system_tokens.cloud_id, "siteUrl": site.jira.base_url}
    assert site.admin_call("GET", "/mail-sources", principal=admin, context=context).is_success
    tenant = site.tenant()
    assert tenant.display_url == site.jira.base_url
    assert tenant.base_url == site.jira.api_base_url  # calls still go through the gateway
