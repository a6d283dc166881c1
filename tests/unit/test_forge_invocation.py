"""Forge Invocation Token verification (connector/forge/invocation.py), pure."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
import pytest

from connector.forge.invocation import (
    InvocationError,
    parse_jwks,
    read_header,
    token_from_bearer,
    verify_invocation_token,
)
from tests.fakes.forge import APP_ID, CLOUD_ID, INSTALLATION_ID, FakeForge, public_jwk
from tests.fakes.keys import generate_rsa_key

FORGE = FakeForge()  # signs only; its JWKS server is not started here


def _verify(token: str, **kwargs: Any) -> Any:
    public_key = FORGE.private_key().public_key()
    return verify_invocation_token(token, public_key, app_id=APP_ID, **kwargs)


def _refused(token: str) -> str:
    with pytest.raises(InvocationError) as caught:
        _verify(token)
    assert caught.value.status == 401
    return str(caught.value)


@dataclass(frozen=True)
class FromNow:
    """A claim time this many seconds from when the test runs."""

    seconds: int


def test_forge_token_valid_gives_installation_and_api_base() -> None:
    invocation = _verify(FORGE.token())
    assert invocation.installation_id == INSTALLATION_ID
    assert invocation.app_id == APP_ID
    assert invocation.api_base_url == f"https://api.atlassian.com/ex/jira/{CLOUD_ID}"
    assert invocation.environment_type == "DEVELOPMENT"
    assert invocation.module_key == "forge-installed-endpoint"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"aud": "ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000000"}, "audience"),
        ({"iss": "jira:some-site"}, "issuer"),
        ({"iat": FromNow(-300), "nbf": FromNow(-300)}, None),
        ({"exp": FromNow(-60)}, "expired"),
        ({"nbf": FromNow(120)}, "not valid yet"),
        ({"iat": FromNow(120)}, "not valid yet"),
        ({"jti": None}, "no jti claim"),
        ({"iat": None}, "no iat claim"),
        ({"nbf": None}, "no nbf claim"),
        ({"exp": None}, "no exp claim"),
        ({"app": None}, "no app claim"),
        ({"app": {"id": APP_ID}}, "app.installationId"),
        ({"app": {"id": APP_ID, "installationId": "  "}}, "app.installationId"),
        (
            {
                "app": {
                    "id": "ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000000",
                    "installationId": INSTALLATION_ID,
                }
            },
            "app.id",
        ),
    ],
    ids=[
        "wrong-aud",
        "wrong-iss",
        "old-but-unexpired-is-accepted",
        "expired",
        "nbf-in-future",
        "iat-in-future",
        "no-jti",
        "no-iat",
        "no-nbf",
        "no-exp",
        "no-app",
        "no-installation",
        "blank-installation",
        "other-app",
    ],
)
def test_forge_token_claims_checked(changes: dict[str, Any], reason: str | None) -> None:
    # Times are taken when the test runs, not when it is collected: a long session would
    # otherwise turn "in the future" into the past.
    now = int(time.time())
    resolved = {
        name: now + value.seconds if isinstance(value, FromNow) else value
        for name, value in changes.items()
    }
    token = FORGE.token(FORGE.claims(**resolved))
    if reason is None:
        assert _verify(token).installation_id == INSTALLATION_ID
    else:
        assert reason in _refused(token)


def test_forge_token_expired_within_leeway_is_accepted_beyond_it_refused() -> None:
    now = int(time.time())
    slightly = FORGE.token(FORGE.claims(iat=now - 30, nbf=now - 30, exp=now - 5))
    assert _verify(slightly).installation_id == INSTALLATION_ID
    beyond = FORGE.token(FORGE.claims(iat=now - 60, nbf=now - 60, exp=now - 30))
    assert "expired" in _refused(beyond)


def test_forge_token_signed_by_another_key_is_refused() -> None:
    assert "signature" in _refused(FORGE.token(key=generate_rsa_key()))


def test_forge_token_alg_none_is_refused_before_any_key() -> None:
    token = FORGE.unsigned_token()
    with pytest.raises(InvocationError, match="algorithm 'none' is not accepted"):
        read_header(token)
    assert "algorithm 'none'" in _refused(token)


def test_forge_token_hs256_keyed_with_the_public_key_is_refused() -> None:
    token = FORGE.hs256_token_keyed_with_public_key()
    assert "algorithm 'HS256'" in _refused(token)


@pytest.mark.parametrize("token", ["not-a-token", "a.b.c", ""], ids=["garbage", "dots", "empty"])
def test_forge_token_malformed_is_refused(token: str) -> None:
    assert "malformed" in _refused(token)


def test_forge_token_without_kid_is_refused() -> None:
    token = pyjwt.encode(FORGE.claims(), FORGE.private_key(), algorithm="RS256")
    with pytest.raises(InvocationError, match="key id"):
        read_header(token)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing Authorization"),
        ("", "missing Authorization"),
        ("JWT abc.def.ghi", "Bearer"),
        ("Bearer", "Bearer"),
        ("Bearer   ", "Bearer"),
        ("Bearer a.b.c extra", "Bearer"),
        ("Basic dXNlcjpwYXNz", "Bearer"),
    ],
)
def test_forge_authorization_header_must_be_bearer(header: str | None, reason: str) -> None:
    with pytest.raises(InvocationError) as caught:
        token_from_bearer(header)
    assert reason in str(caught.value)
    assert caught.value.status == 401


def test_forge_authorization_bearer_gives_token() -> None:
    assert token_from_bearer("Bearer abc.def.ghi") == "abc.def.ghi"
    assert token_from_bearer("bearer abc.def.ghi") == "abc.def.ghi"


def test_forge_token_header_names_staging_by_api_base_url() -> None:
    production = read_header(FORGE.token())
    assert production == read_header(FORGE.token()) and not production.staging
    assert production.kid == FORGE.kid
    app = {
        **FORGE.claims()["app"],
        "apiBaseUrl": f"https://api.stg.atlassian.com/ex/jira/{CLOUD_ID}",
    }
    assert read_header(FORGE.token(FORGE.claims(app=app))).staging


def test_forge_jwks_keeps_rs256_signing_keys_only() -> None:
    signing = public_jwk(FORGE.private_key(), "sig-key")
    encryption = {**public_jwk(generate_rsa_key(), "enc-key"), "use": "enc"}
    other_alg = {**public_jwk(generate_rsa_key(), "ps-key"), "alg": "PS256"}
    not_rsa = {"kty": "EC", "kid": "ec-key", "crv": "P-256", "x": "AA", "y": "AA"}
    keys = parse_jwks({"keys": [signing, encryption, other_alg, not_rsa, "junk"]})
    assert set(keys) == {"sig-key"}
    token = FORGE.token(kid="sig-key")
    assert verify_invocation_token(token, keys["sig-key"], app_id=APP_ID).installation_id


@pytest.mark.parametrize("document", [{}, {"keys": []}, [], {"keys": [{"kty": "oct"}]}])
def test_forge_jwks_without_signing_key_is_refused(document: Any) -> None:
    with pytest.raises(ValueError, match="JWKS"):
        parse_jwks(document)
