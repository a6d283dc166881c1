"""Every request from Jira after install is authenticated: webhooks, pages, admin API."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.connect import jwt as cj
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp

WEBHOOK_PATH = "/webhooks/comment-created"


@pytest.fixture
def installed(running_app: RunningApp, fake_jira: FakeJira) -> RunningApp:
    assert fake_jira.install(running_app.base_url).status_code == 204
    return running_app


def _token(fake: FakeJira, method: str, path: str, **kwargs: object) -> str:
    target = None if path == "context" else cj.request_target(method, path)
    return cj.encode_token(
        issuer=str(kwargs.get("issuer", fake.client_key)),
        shared_secret=str(kwargs.get("secret", fake.shared_secret)),
        target=target,
        now=float(str(kwargs.get("now", time.time()))),
    )


def _post_webhook(app: RunningApp, token: str, path: str = WEBHOOK_PATH) -> httpx.Response:
    return httpx.post(
        app.base_url + path,
        headers={"Authorization": f"JWT {token}"},
        json={"webhookEvent": "comment_created", "issue": {"key": "SUP-1"}},
    )


def test_webhook_signed_by_jira_is_accepted_and_handled(
    installed: RunningApp, fake_jira: FakeJira
) -> None:
    response = fake_jira.send_webhook("comment_created", {"issue": {"key": "SUP-1"}})
    assert response.status_code == 204
    assert installed.jira_events[0][0] == fake_jira.client_key
    assert installed.jira_events[0][1] == "comment_created"
    assert installed.jira_events[0][2]["issue"]["key"] == "SUP-1"


def test_webhook_alg_none_is_refused(installed: RunningApp, fake_jira: FakeJira) -> None:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims = {
        "iss": fake_jira.client_key,
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
        "qsh": cj.query_string_hash(cj.request_target("POST", WEBHOOK_PATH)),
    }
    token = b64(b'{"alg":"none","typ":"JWT"}') + "." + b64(json.dumps(claims).encode()) + "."
    assert _post_webhook(installed, token).status_code == 401
    assert installed.jira_events == []


def test_webhook_rs256_token_is_refused(installed: RunningApp, fake_jira: FakeJira) -> None:
    key = rsa.generate_private_key(65537, 2048)
    token = pyjwt.encode(
        {
            "iss": fake_jira.client_key,
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
            "qsh": cj.query_string_hash(cj.request_target("POST", WEBHOOK_PATH)),
        },
        key,
        algorithm="RS256",
    )
    response = _post_webhook(installed, token)
    assert response.status_code == 401
    assert "HS256" in response.json()["error"]


def test_webhook_wrong_secret_is_refused(installed: RunningApp, fake_jira: FakeJira) -> None:
    token = _token(fake_jira, "POST", WEBHOOK_PATH, secret="x" * 40)
    assert _post_webhook(installed, token).status_code == 401


def test_webhook_expired_token_is_refused(installed: RunningApp, fake_jira: FakeJira) -> None:
    token = _token(fake_jira, "POST", WEBHOOK_PATH, now=time.time() - 3600)
    response = _post_webhook(installed, token)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]


def test_webhook_long_lived_token_is_refused(installed: RunningApp, fake_jira: FakeJira) -> None:
    token = cj.encode_token(
        issuer=fake_jira.client_key,
        shared_secret=fake_jira.shared_secret,
        target=cj.request_target("POST", WEBHOOK_PATH),
        ttl_seconds=10 * 365 * 24 * 3600,
    )
    response = _post_webhook(installed, token)
    assert response.status_code == 401
    assert "lifetime" in response.json()["error"]
    assert installed.jira_events == []


def test_webhook_tampered_query_is_refused(installed: RunningApp, fake_jira: FakeJira) -> None:
    token = _token(fake_jira, "POST", WEBHOOK_PATH)
    response = _post_webhook(installed, token, WEBHOOK_PATH + "?user_id=admin")
    assert response.status_code == 401
    assert "qsh" in response.json()["error"]


def test_webhook_token_for_other_path_is_refused(
    installed: RunningApp, fake_jira: FakeJira
) -> None:
    token = _token(fake_jira, "POST", "/webhooks/issue-deleted")
    assert _post_webhook(installed, token).status_code == 401


def test_webhook_context_token_is_refused(installed: RunningApp, fake_jira: FakeJira) -> None:
    token = _token(fake_jira, "POST", "context")
    response = _post_webhook(installed, token)
    assert response.status_code == 401
    assert "context token" in response.json()["error"]


def test_webhook_unknown_issuer_is_refused(installed: RunningApp, fake_jira: FakeJira) -> None:
    token = _token(fake_jira, "POST", WEBHOOK_PATH, issuer="jira:not-installed")
    response = _post_webhook(installed, token)
    assert response.status_code == 401
    assert "not an installed Jira site" in response.json()["error"]


def test_webhook_while_disabled_is_refused(installed: RunningApp, fake_jira: FakeJira) -> None:
    fake_jira.disable()
    assert fake_jira.send_webhook("comment_created", {}).status_code == 401
    assert installed.jira_events == []


def test_webhook_without_token_is_refused(installed: RunningApp) -> None:
    response = httpx.post(installed.base_url + WEBHOOK_PATH, json={})
    assert response.status_code == 401


def test_page_with_jira_query_token_is_shown(installed: RunningApp, fake_jira: FakeJira) -> None:
    path = "/pages/project-settings?projectKey=SUP&projectId=10000"
    token = _token(fake_jira, "GET", path)
    response = httpx.get(f"{installed.base_url}{path}&jwt={token}")
    assert response.status_code == 200
    assert fake_jira.base_url in response.text


def test_page_with_context_token_is_refused(installed: RunningApp, fake_jira: FakeJira) -> None:
    token = _token(fake_jira, "GET", "context")
    response = httpx.get(f"{installed.base_url}/pages/admin?jwt={token}")
    assert response.status_code == 401


def test_page_with_tampered_query_is_refused(installed: RunningApp, fake_jira: FakeJira) -> None:
    token = _token(fake_jira, "GET", "/pages/project-settings?projectKey=SUP")
    response = httpx.get(
        f"{installed.base_url}/pages/project-settings?projectKey=OTHER&jwt={token}"
    )
    assert response.status_code == 401


def test_api_context_token_answers_for_its_own_tenant(
    installed: RunningApp, fake_jira: FakeJira
) -> None:
    token = _token(fake_jira, "GET", "context")
    response = httpx.get(
        installed.base_url + "/api/v1/tenant", headers={"Authorization": f"JWT {token}"}
    )
    assert response.status_code == 200
    assert response.json()["client_key"] == fake_jira.client_key


def test_api_token_of_another_tenant_sees_only_its_own(
    installed: RunningApp, fake_jira: FakeJira
) -> None:
    with FakeJira(app_key="mail-connector", key_server=fake_jira.key_server) as other:
        assert other.install(installed.base_url).status_code == 204
        own = httpx.get(
            installed.base_url + "/api/v1/tenant",
            headers={"Authorization": f"JWT {_token(other, 'GET', 'context')}"},
        )
        assert own.json()["client_key"] == other.client_key
        # The other site's secret cannot speak for the first site.
        forged = _token(other, "GET", "context", issuer=fake_jira.client_key)
        refused = httpx.get(
            installed.base_url + "/api/v1/tenant", headers={"Authorization": f"JWT {forged}"}
        )
        assert refused.status_code == 401
