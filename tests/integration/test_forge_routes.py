"""The Forge routes of the web app: the manifest, and the endpoints Forge calls with a FIT.

The app runs in process (Starlette's TestClient); the fake Forge serves its JWKS on loopback.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from connector.app import create_app
from connector.forge.invocation import InvocationError
from connector.http_body import LIFECYCLE_MAX_BYTES
from connector.settings import Settings
from descriptor.manifest import manifest_yaml
from tests.fakes.forge import APP_ID, INSTALLATION_ID, FakeForge
from tests.fakes.keys import generate_rsa_key

BASE_URL = "http://localhost:8000"
INSTALLED = "/forge/events/installed"
REFRESH = "/forge/scheduled/refresh"
SYSTEM_TOKEN = "forge-system-token-that-must-never-be-logged"


@pytest.fixture(scope="module")
def forge() -> Iterator[FakeForge]:
    with FakeForge() as fake:
        yield fake


def _settings(sqlite_url: str, encryption_key: str, **env: str) -> Settings:
    return Settings.from_env(
        {
            "BASE_URL": BASE_URL,
            "DATABASE_URL": sqlite_url,
            "ENCRYPTION_KEY": encryption_key,
            **env,
        }
    )


@pytest.fixture
def client(sqlite_url: str, encryption_key: str, forge: FakeForge) -> Iterator[TestClient]:
    settings = _settings(
        sqlite_url, encryption_key, FORGE_APP_ID=APP_ID, FORGE_JWKS_URL=forge.jwks_url
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def client_without_app_id(sqlite_url: str, encryption_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(sqlite_url, encryption_key))) as test_client:
        yield test_client


def _event(**changes: Any) -> dict[str, Any]:
    event = {
        "id": "6b4b4f9e-0c1d-4e5f-8a9b-0c1d2e3f4a5b",
        "app": {"id": APP_ID, "version": "1.0.0"},
        "environment": {"id": "env-1"},
        "context": "ari:cloud:jira::site/0c8a1b2d-3e4f-4a5b-9c6d-7e8f9a0b1c2d",
        "retryContext": {"retryData": None, "retryCount": 0, "retryReason": None},
    }
    event.update(changes)
    return event


def _post(client: TestClient, path: str, token: str | None, **kwargs: Any) -> Any:
    headers = {"x-b3-traceid": "0af7651916cd43dd", "x-b3-spanid": "b7ad6b7169203331"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    headers["x-forge-oauth-system"] = SYSTEM_TOKEN
    kwargs.setdefault("json", _event())
    return client.post(path, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)


def test_forge_manifest_route_serves_yaml_for_this_deployment(client: TestClient) -> None:
    response = client.get("/forge/manifest.yml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    assert response.text == manifest_yaml(
        base_url=BASE_URL, app_key="mail-connector", forge_app_id=APP_ID
    )
    manifest = yaml.safe_load(response.text)
    assert manifest["app"]["id"] == APP_ID
    assert manifest["remotes"][0]["baseUrl"] == BASE_URL


def test_forge_manifest_route_without_app_id_says_it_is_not_set(
    client_without_app_id: TestClient,
) -> None:
    response = client_without_app_id.get("/forge/manifest.yml")
    assert response.status_code == 503
    assert "FORGE_APP_ID is not set" in response.json()["error"]


@pytest.mark.parametrize("path", [INSTALLED, REFRESH])
def test_forge_endpoint_valid_token_answers_200_and_logs_installation(
    client: TestClient, forge: FakeForge, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = forge.token()
    retried = {"retryData": None, "retryCount": 2, "retryReason": "TIMEOUT_ERROR"}
    with caplog.at_level(logging.DEBUG):
        response = _post(client, path, token, json=_event(retryContext=retried))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "received"}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"installation_id={INSTALLATION_ID}" in logged
    assert "retry_count=2" in logged
    assert token not in logged
    assert SYSTEM_TOKEN not in logged


def test_forge_endpoint_second_call_uses_cached_keys(client: TestClient, forge: FakeForge) -> None:
    before = forge.fetches
    assert _post(client, INSTALLED, forge.token()).status_code == 200
    assert _post(client, REFRESH, forge.token()).status_code == 200
    assert forge.fetches - before == 1


REFUSALS: dict[str, tuple[Callable[[FakeForge], str | None], str]] = {
    "unknown-key": (lambda f: f.token(key=generate_rsa_key(), kid="forge-unknown"), "unknown key"),
    "wrong-key-same-kid": (lambda f: f.token(key=generate_rsa_key()), "signature"),
    "wrong-aud": (
        lambda f: f.token(f.claims(aud="ari:cloud:ecosystem::app/00000000-0000-4000-8000-0")),
        "audience",
    ),
    "wrong-iss": (lambda f: f.token(f.claims(iss="someone-else")), "issuer"),
    "expired": (
        lambda f: f.token(f.claims(iat=int(time.time()) - 90, exp=int(time.time()) - 60)),
        "expired",
    ),
    "nbf-in-future": (lambda f: f.token(f.claims(nbf=int(time.time()) + 300)), "not valid yet"),
    "alg-none": (FakeForge.unsigned_token, "algorithm 'none'"),
    "hs256-public-key": (FakeForge.hs256_token_keyed_with_public_key, "algorithm 'HS256'"),
    "no-installation": (lambda f: f.token(f.claims(app={"id": APP_ID})), "installationId"),
    "missing-token": (lambda f: None, "missing Authorization"),
    "malformed-token": (lambda f: "not.a.token", "malformed"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
@pytest.mark.parametrize("path", [INSTALLED, REFRESH])
def test_forge_endpoint_bad_token_is_401_with_reason(
    client: TestClient, forge: FakeForge, case: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    make_token, reason = REFUSALS[case]
    token = make_token(forge)
    with caplog.at_level(logging.DEBUG):
        response = _post(client, path, token)
    assert response.status_code == 401
    assert reason in response.json()["error"]
    if token:
        assert token not in "\n".join(record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "authorization",
    ["JWT abc.def.ghi", "Bearer", "Basic dXNlcjpwYXNz", "Bearer a.b.c d"],
    ids=["jwt-scheme", "no-token", "basic", "two-tokens"],
)
def test_forge_endpoint_malformed_header_is_401(
    client: TestClient, forge: FakeForge, authorization: str
) -> None:
    response = _post(client, INSTALLED, None, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]


def test_forge_endpoint_without_app_id_is_503_not_401(
    client_without_app_id: TestClient, forge: FakeForge
) -> None:
    response = _post(client_without_app_id, INSTALLED, forge.token())
    assert response.status_code == 503
    assert "FORGE_APP_ID is not set" in response.json()["error"]


def test_forge_endpoint_body_over_cap_is_413_after_valid_token(
    client: TestClient, forge: FakeForge
) -> None:
    oversize = json.dumps(_event(padding="x" * LIFECYCLE_MAX_BYTES))
    response = _post(
        client,
        INSTALLED,
        forge.token(),
        json=None,
        content=oversize,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_forge_endpoint_body_not_json_is_400(client: TestClient, forge: FakeForge) -> None:
    response = _post(client, INSTALLED, forge.token(), json=None, content=b"not json")
    assert response.status_code == 400
    assert "not JSON" in response.json()["error"]


def test_forge_endpoint_unreachable_keys_is_503(sqlite_url: str, encryption_key: str) -> None:
    settings = _settings(
        sqlite_url,
        encryption_key,
        FORGE_APP_ID=APP_ID,
        FORGE_JWKS_URL="http://127.0.0.1:9/.well-known/jwks.json",
    )
    with FakeForge() as forge, TestClient(create_app(settings)) as client:
        response = _post(client, INSTALLED, forge.token())
    assert response.status_code == 503
    assert InvocationError.__name__ not in response.text
