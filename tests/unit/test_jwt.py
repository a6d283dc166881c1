"""Query string hash and token verification (connector/connect/jwt.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.connect import jwt as cj
from tests.shared import shared_path

SECRET = "a-shared-secret-that-is-long-enough-for-hs256"


def _vectors() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        shared_path("specs", "jwt-signed-urls.json").read_text(encoding="utf-8")
    )
    return loaded


def _vector_names() -> list[str]:
    try:
        return [test["name"] for test in _vectors()["tests"]]
    except (pytest.skip.Exception, pytest.fail.Exception):
        # Collected anyway, so the test itself reports the skip (or the CI failure).
        return ["(shared specs absent)"]


def test_vectors_file_has_all_79_official_vectors() -> None:
    assert len(_vectors()["tests"]) == 79


@pytest.mark.parametrize("name", _vector_names())
def test_query_string_hash_official_vector_matches(name: str) -> None:
    vectors = _vectors()
    test = next(t for t in vectors["tests"] if t["name"] == name)
    url = test["signedUrl"]
    token = dict(cj.parse_query(urlsplit(url).query))["jwt"]
    target = cj.request_target("GET", url, test.get("addonBaseUrl", ""))

    assert cj.canonical_request(target) == test["canonicalUrl"]
    claims = cj.verify_tenant_token(token, vectors["secret"], target=target, now=claims_time(token))
    assert claims["qsh"] == cj.query_string_hash(target)


def claims_time(token: str) -> float:
    _, claims = cj.read_unverified(token)
    return float(claims["iat"]) + 1


def _target(url: str = "/rest/api/3/issue?expand=names", method: str = "GET") -> cj.RequestTarget:
    return cj.request_target(method, url)


def test_verify_tenant_token_valid_returns_claims() -> None:
    token = cj.encode_token(issuer="jira:1", shared_secret=SECRET, target=_target())
    claims = cj.verify_tenant_token(token, SECRET, target=_target())
    assert claims["iss"] == "jira:1"


def test_verify_tenant_token_alg_none_is_refused() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=")
    payload = {
        "iss": "jira:1",
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
        "qsh": cj.query_string_hash(_target()),
    }
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=")
    token = (header + b"." + body + b".").decode()
    with pytest.raises(cj.JwtError, match="algorithm 'none'"):
        cj.verify_tenant_token(token, SECRET, target=_target())


def test_verify_tenant_token_rs_hs_confusion_is_refused() -> None:
    # The attack: sign HS256 with the RSA *public* key, hoping the verifier uses it as secret.
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    rs_token = pyjwt.encode(
        {"iss": "jira:1", "iat": int(time.time()), "exp": int(time.time()) + 60, "qsh": "x"},
        private_key,
        algorithm="RS256",
    )
    with pytest.raises(cj.JwtError, match="algorithm 'RS256'"):
        cj.verify_tenant_token(rs_token, public_pem, target=_target())
    # And the reverse on installs: an HS256 token keyed with the published public key.
    forged = _hs256_by_hand(
        {"iss": "jira:1", "iat": int(time.time()), "exp": int(time.time()) + 60, "qsh": "x"},
        public_pem.encode(),
    )
    with pytest.raises(cj.JwtError, match="installs are RS256"):
        cj.verify_install_token(forged, public_pem, audience="http://app", target=_target())


def _hs256_by_hand(claims: dict[str, Any], key: bytes) -> str:
    # PyJWT refuses to use a PEM as an HMAC key, so an attacker's token is assembled by hand.
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(json.dumps(claims).encode())
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + b64(signature)).decode()


def test_verify_tenant_token_wrong_secret_is_refused() -> None:
    token = cj.encode_token(issuer="jira:1", shared_secret=SECRET, target=_target())
    with pytest.raises(cj.JwtError, match="signature"):
        cj.verify_tenant_token(token, SECRET + "x", target=_target())


def test_verify_tenant_token_expired_is_refused() -> None:
    token = cj.encode_token(
        issuer="jira:1", shared_secret=SECRET, target=_target(), now=time.time() - 3600
    )
    with pytest.raises(cj.JwtError, match="expired"):
        cj.verify_tenant_token(token, SECRET, target=_target())


def test_verify_tenant_token_within_leeway_is_accepted() -> None:
    now = time.time()
    token = cj.encode_token(
        issuer="jira:1", shared_secret=SECRET, target=_target(), now=now - 190, ttl_seconds=180
    )
    assert cj.verify_tenant_token(token, SECRET, target=_target())["iss"] == "jira:1"


def test_verify_tenant_token_tampered_query_is_refused() -> None:
    token = cj.encode_token(issuer="jira:1", shared_secret=SECRET, target=_target())
    with pytest.raises(cj.JwtError, match="qsh"):
        cj.verify_tenant_token(token, SECRET, target=_target("/rest/api/3/issue?expand=changelog"))


def test_verify_tenant_token_other_method_is_refused() -> None:
    token = cj.encode_token(issuer="jira:1", shared_secret=SECRET, target=_target())
    with pytest.raises(cj.JwtError, match="qsh"):
        cj.verify_tenant_token(
            token, SECRET, target=_target("/rest/api/3/issue?expand=names", "DELETE")
        )


def test_verify_tenant_token_context_qsh_only_where_allowed() -> None:
    token = cj.encode_token(issuer="jira:1", shared_secret=SECRET, target=None)
    with pytest.raises(cj.JwtError, match="context token is not accepted"):
        cj.verify_tenant_token(token, SECRET, target=_target())
    claims = cj.verify_tenant_token(token, SECRET, target=_target(), allow_context_qsh=True)
    assert claims["qsh"] == cj.CONTEXT_QSH


def test_verify_tenant_token_without_qsh_is_refused() -> None:
    token = pyjwt.encode(
        {"iss": "jira:1", "iat": int(time.time()), "exp": int(time.time()) + 60},
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(cj.JwtError, match="qsh"):
        cj.verify_tenant_token(token, SECRET, target=_target())


def test_read_unverified_garbage_raises_jwt_error() -> None:
    with pytest.raises(cj.JwtError, match="malformed"):
        cj.read_unverified("not-a-token")


def test_canonical_path_base_path_and_trailing_slash_are_stripped() -> None:
    assert cj.canonical_path("/base/lifecycle/installed/", "/base") == "/lifecycle/installed"
    assert cj.canonical_path("/basement/x", "/base") == "/basement/x"
    assert cj.canonical_path("", "") == "/"
