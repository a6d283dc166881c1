"""Our Connect JWTs judged by Atlassian's own Python package, atlassian-jwt.

Where Atlassian publishes its own package, it is the judge: atlassian-jwt must accept the tokens
connector/connect/jwt.py signs (its query string hash matching ours for awkward query strings),
and our verifier must accept the tokens atlassian-jwt signs.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import atlassian_jwt
import pytest
from atlassian_jwt.url_utils import canonicalize_request, hash_url

from connector.connect import jwt as cj
from tests.shared import shared_path

SECRET = "a-shared-secret-that-is-long-enough-for-hs256"
CLIENT_KEY = "jira:0b7e5d2c-7f55-4a52-9a0e-3c1b2f9d8e10"

# Requests below the app's base URL, each with something a canonical request can get wrong.
TRICKY_REQUESTS = [
    ("GET", "/rest/api/3/search?jql=project%20%3D%20ABC%20AND%20text%20~%20%22a%2Bb%22"),
    ("GET", "/rest/api/3/issue/ABC-1?expand=names,renderedFields&fields=*all"),
    ("GET", "/rest/api/3/user/search?query=o%27brien&maxResults=50&startAt=0"),
    ("POST", "/rest/api/3/issue/ABC-1/comment?notifyUsers=false"),
    ("PUT", "/mail/a&b/?zee=1&a=2&a=1&empty=&b=x+y"),
    ("GET", "/search?name=%E2%9C%93%20ok&star=*&tilde=~&plus=%2B&slash=%2F"),
    ("GET", "/r?k=v%26w&k=u&%C3%A9=%C3%A9&K=upper"),
    ("DELETE", "/rest/api/3/issue/ABC-1/attachments/10001"),
    ("GET", "/events?cursor=&since=2026-12-06T10%3A00%3A00%2B01%3A00&jwt=ignored-by-the-hash"),
]


class _Site(atlassian_jwt.Authenticator):  # type: ignore[misc]
    """Atlassian's verifier, knowing one site's shared secret."""

    def get_shared_secret(self, client_key: str) -> str:
        assert client_key == CLIENT_KEY
        return SECRET


def _authorize(method: str, url: str, token: str) -> Any:
    return _Site().authenticate(method, url, headers={"Authorization": f"JWT {token}"})


@pytest.mark.parametrize(("method", "url"), TRICKY_REQUESTS)
def test_our_query_string_hash_is_atlassians(method: str, url: str) -> None:
    target = cj.request_target(method, url)
    assert cj.canonical_request(target) == canonicalize_request(method, url)
    assert cj.query_string_hash(target) == hash_url(method, url)


@pytest.mark.parametrize(("method", "url"), TRICKY_REQUESTS)
def test_atlassian_jwt_accepts_the_tokens_we_sign(method: str, url: str) -> None:
    token = cj.encode_token(
        issuer=CLIENT_KEY, shared_secret=SECRET, target=cj.request_target(method, url)
    )
    result = _authorize(method, url, token)
    assert result.client_key == CLIENT_KEY
    assert result.claims["qsh"] == hash_url(method, url)


def test_atlassian_jwt_refuses_our_token_for_another_query() -> None:
    token = cj.encode_token(
        issuer=CLIENT_KEY,
        shared_secret=SECRET,
        target=cj.request_target("GET", "/rest/api/3/issue/ABC-1?expand=names"),
    )
    with pytest.raises(atlassian_jwt.DecodeError, match="qsh"):
        _authorize("GET", "/rest/api/3/issue/ABC-2?expand=names", token)


@pytest.mark.parametrize(("method", "url"), TRICKY_REQUESTS)
def test_we_accept_the_tokens_atlassian_jwt_signs(method: str, url: str) -> None:
    token = atlassian_jwt.encode_token(method, url, CLIENT_KEY, SECRET, timeout_secs=180)
    claims = cj.verify_tenant_token(token, SECRET, target=cj.request_target(method, url))
    assert claims["iss"] == CLIENT_KEY
    assert claims["aud"] == CLIENT_KEY


def test_we_refuse_an_atlassian_jwt_token_replayed_on_another_method() -> None:
    token = atlassian_jwt.encode_token("GET", "/rest/api/3/issue/ABC-1", CLIENT_KEY, SECRET, 180)
    with pytest.raises(cj.JwtError, match="qsh"):
        cj.verify_tenant_token(
            token, SECRET, target=cj.request_target("DELETE", "/rest/api/3/issue/ABC-1")
        )


def test_we_refuse_an_atlassian_jwt_token_for_another_audience() -> None:
    token = atlassian_jwt.encode_token(
        "GET", "/x", CLIENT_KEY, SECRET, 180, payload_kwargs={"aud": "jira:someone-else"}
    )
    with pytest.raises(cj.JwtError, match="audience"):
        cj.verify_tenant_token(token, SECRET, target=cj.request_target("GET", "/x"))


def test_we_refuse_atlassian_jwt_default_hour_long_tokens() -> None:
    # atlassian-jwt mints hour-long tokens by default; Jira's live 3 minutes (see MAX_TOKEN_
    # LIFETIME_SECONDS), so a token claiming an hour is not accepted as one of Jira's.
    token = atlassian_jwt.encode_token("GET", "/x", CLIENT_KEY, SECRET)
    with pytest.raises(cj.JwtError, match="lifetime"):
        cj.verify_tenant_token(token, SECRET, target=cj.request_target("GET", "/x"))


def _vectors() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        shared_path("specs", "jwt-signed-urls.json").read_text(encoding="utf-8")
    )
    return loaded


def _below_base(signed_url: str, base_url: str) -> str:
    parts = urlsplit(signed_url)
    base_path = urlsplit(base_url).path.rstrip("/")
    path = parts.path
    if base_path and path.startswith(base_path):
        path = path[len(base_path) :]
    return path + (f"?{parts.query}" if parts.query else "")


def test_official_vectors_canonicalise_alike_in_atlassian_jwt_and_ours() -> None:
    tests = _vectors()["tests"]
    assert len(tests) == 79
    for test in tests:
        base_url = test.get("addonBaseUrl", "")
        relative = _below_base(test["signedUrl"], base_url)
        ours = cj.canonical_request(cj.request_target("GET", test["signedUrl"], base_url))
        assert canonicalize_request("GET", relative) == test["canonicalUrl"] == ours, test["name"]
