"""The fake Jira's side of user impersonation: its authorization server checks assertions as
Atlassian's does, and the site takes the tokens it issues as `Authorization: Bearer`, acting
as that user, and no other site's or forged token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from connector.jira.impersonation import GRANT_TYPE, assertion_claims, encode_assertion
from tests.fakes.jira import FakeJira
from tests.unit.test_fake_jira import create_issue

API = "/rest/api/3"


@pytest.fixture(scope="module")
def jira() -> Iterator[FakeJira]:
    with FakeJira() as fake:
        fake.add_project("IMP", "Impersonation")
        fake.add_user("acc-ada", "ada@example.com", "Ada Lovelace")
        fake.add_user("acc-gone", "gone@example.com", "Gone", active=False)
        yield fake


def _claims(jira: FakeJira, **changes: Any) -> dict[str, Any]:
    claims = assertion_claims(
        oauth_client_id=jira.oauth_client_id,
        account_id="acc-ada",
        site_url=jira.base_url,
        audience=jira.authorization_server_url,
        now=time.time(),
    )
    claims.update(changes)
    return claims


def _ask(
    jira: FakeJira, claims: dict[str, Any], *, secret: str | None = None, scope: str = "READ WRITE"
) -> httpx.Response:
    form = {
        "grant_type": GRANT_TYPE,
        "assertion": encode_assertion(claims, secret or jira.shared_secret),
        "scope": scope,
    }
    return httpx.post(jira.authorization_server_url + "/oauth2/token", data=form, timeout=5)


def _token(jira: FakeJira, **changes: Any) -> str:
    answer = _ask(jira, _claims(jira, **changes))
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "Bearer" and answer.json()["expires_in"] > 0
    token: str = answer.json()["access_token"]
    return token


def _comment(jira: FakeJira, token: str, issue_key: str) -> httpx.Response:
    body = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": []}]}
    return httpx.post(
        f"{jira.base_url}{API}/issue/{issue_key}/comment",
        json={"body": body},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )


def _issue(jira: FakeJira) -> str:
    return create_issue(jira, "IMP")  # as the app, with its tenant JWT


def test_bearer_token_acts_as_its_user(jira: FakeJira) -> None:
    token = _token(jira)
    myself = httpx.get(
        f"{jira.base_url}{API}/myself", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert myself.status_code == 200 and myself.json()["accountId"] == "acc-ada"
    key = _issue(jira)
    assert _comment(jira, token, key).status_code == 201
    issue = jira.issue(key)
    assert issue is not None
    assert issue["fields"]["comment"]["comments"][0]["author"]["accountId"] == "acc-ada"
    assert jira.requests_log[-1].auth == "bearer"


@pytest.mark.parametrize(
    ("changes", "secret", "error"),
    [
        ({}, "another-secret-" + "x" * 40, "invalid_grant"),
        ({"aud": "https://auth.elsewhere.example"}, None, "invalid_grant"),
        ({"tnt": "https://other-site.atlassian.net"}, None, "invalid_grant"),
        ({"iss": "urn:atlassian:connect:clientid:unknown"}, None, "invalid_client"),
        ({"sub": "urn:atlassian:connect:userkey:admin"}, None, "invalid_grant"),
        ({"exp": int(time.time()) + 3600}, None, "invalid_grant"),
        ({"exp": int(time.time()) - 600}, None, "invalid_grant"),
    ],
    ids=["secret", "aud", "tnt", "iss", "sub", "too-long", "expired"],
)
def test_token_endpoint_refuses_bad_assertions(
    jira: FakeJira, changes: dict[str, Any], secret: str | None, error: str
) -> None:
    answer = _ask(jira, _claims(jira, **changes), secret=secret)
    assert answer.status_code in (400, 401)
    assert answer.json()["error"] == error


def test_token_endpoint_refuses_other_grants_and_unsigned_assertions(jira: FakeJira) -> None:
    url = jira.authorization_server_url + "/oauth2/token"
    grant = httpx.post(url, data={"grant_type": "client_credentials"}, timeout=5)
    assert grant.json()["error"] == "unsupported_grant_type"
    unsigned = pyjwt.encode(_claims(jira), key="", algorithm="none")
    answer = httpx.post(url, data={"grant_type": GRANT_TYPE, "assertion": unsigned}, timeout=5)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def test_refused_site_answers_401_until_allowed(jira: FakeJira) -> None:
    jira.refuse_impersonation()
    try:
        answer = _ask(jira, _claims(jira))
        assert answer.status_code == 401 and answer.json()["error"] == "unauthorized_client"
    finally:
        jira.authorization.allow(jira.oauth_client_id)
    assert _ask(jira, _claims(jira)).status_code == 200


def test_site_refuses_forged_revoked_read_only_and_inactive_tokens(jira: FakeJira) -> None:
    key = _issue(jira)
    assert _comment(jira, "forged-token", key).status_code == 401
    read_only = _ask(jira, _claims(jira), scope="READ").json()["access_token"]
    assert _comment(jira, read_only, key).status_code == 403
    gone = _token(jira, sub="urn:atlassian:connect:useraccountid:acc-gone")
    assert _comment(jira, gone, key).status_code == 401
    token = _token(jira)
    jira.authorization.revoke_all()
    assert _comment(jira, token, key).status_code == 401


def test_token_for_one_site_is_refused_by_another(jira: FakeJira) -> None:
    token = _token(jira)
    with FakeJira(key_server=jira.key_server, authorization=jira.authorization) as other:
        other.add_project("IMP", "Impersonation")
        other.add_user("acc-ada", "ada@example.com", "Ada Lovelace")
        assert _comment(other, token, create_issue(other, "IMP")).status_code == 401
