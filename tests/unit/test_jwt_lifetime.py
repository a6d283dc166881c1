"""Tenant and install tokens claiming more than a Jira token's lifetime are refused."""

from __future__ import annotations

import time
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.connect import jwt as cj
from tests.fakes.keys import public_key_pem

SECRET = "a-shared-secret-that-is-long-enough-for-hs256"
TEN_YEARS = 10 * 365 * 24 * 3600
TARGET = cj.request_target("POST", "/webhooks/comment-created")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "jira:1",
        "iat": now,
        "exp": now + 180,
        "qsh": cj.query_string_hash(TARGET),
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _tenant_token(**overrides: Any) -> str:
    return pyjwt.encode(_claims(**overrides), SECRET, algorithm="HS256")


def test_verify_tenant_token_three_minute_request_token_is_accepted() -> None:
    claims = cj.verify_tenant_token(_tenant_token(), SECRET, target=TARGET)
    assert claims["exp"] - claims["iat"] == 180


def test_verify_tenant_token_fifteen_minute_context_token_is_accepted() -> None:
    token = cj.encode_token(issuer="jira:1", shared_secret=SECRET, target=None, ttl_seconds=15 * 60)
    claims = cj.verify_tenant_token(token, SECRET, target=None, allow_context_qsh=True)
    assert claims["qsh"] == cj.CONTEXT_QSH


def test_verify_tenant_token_lifetime_over_maximum_is_refused() -> None:
    now = int(time.time())
    token = _tenant_token(exp=now + cj.MAX_TOKEN_LIFETIME_SECONDS + 1)
    with pytest.raises(cj.JwtError, match="lifetime of 901 s is over the 900 s"):
        cj.verify_tenant_token(token, SECRET, target=TARGET)


def test_verify_tenant_token_ten_year_expiry_is_refused() -> None:
    token = _tenant_token(exp=int(time.time()) + TEN_YEARS)
    with pytest.raises(cj.JwtError, match="lifetime"):
        cj.verify_tenant_token(token, SECRET, target=TARGET)


def test_verify_tenant_token_issued_in_the_future_is_refused() -> None:
    # A short lifetime far ahead: exp - iat is fine, but the token would be good for a year.
    later = int(time.time()) + 365 * 24 * 3600
    token = _tenant_token(iat=later, exp=later + 180)
    with pytest.raises(cj.JwtError, match="issued in the future"):
        cj.verify_tenant_token(token, SECRET, target=TARGET)


def test_verify_tenant_token_without_iat_is_refused() -> None:
    token = _tenant_token(iat=None)
    with pytest.raises(cj.JwtError, match="iat"):
        cj.verify_tenant_token(token, SECRET, target=TARGET)


@pytest.mark.parametrize("exp", [float("nan"), float("inf"), "soon", True])
def test_verify_tenant_token_exp_not_a_number_is_refused(exp: object) -> None:
    token = _tenant_token(exp=exp)
    with pytest.raises(cj.JwtError):
        cj.verify_tenant_token(token, SECRET, target=TARGET)


def test_verify_tenant_token_explicit_now_applies_the_same_limit() -> None:
    token = _tenant_token(iat=1_700_000_000, exp=1_700_000_000 + TEN_YEARS)
    with pytest.raises(cj.JwtError, match="lifetime"):
        cj.verify_tenant_token(token, SECRET, target=TARGET, now=1_700_000_001)


def _install_token(private_key: rsa.RSAPrivateKey, lifetime: int) -> str:
    now = int(time.time())
    claims = {**_claims(exp=now + lifetime), "aud": "https://app.example.com"}
    return pyjwt.encode(claims, private_key, algorithm="RS256", headers={"kid": "k1"})


def test_verify_install_token_lifetime_is_limited_like_tenant_tokens() -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = public_key_pem(private_key)
    audience = "https://app.example.com"
    good = cj.verify_install_token(
        _install_token(private_key, 180), pem, audience=audience, target=TARGET
    )
    assert good["iss"] == "jira:1"
    with pytest.raises(cj.JwtError, match="lifetime"):
        cj.verify_install_token(
            _install_token(private_key, TEN_YEARS), pem, audience=audience, target=TARGET
        )
