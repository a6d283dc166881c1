"""A fake Forge: signs Forge Invocation Tokens and serves its keys as a JWKS on loopback.

Mirrors Atlassian's `https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json` and the
tokens Forge sends to a remote (developer.atlassian.com/platform/forge/remote/essentials/):
RS256, `iss` forge/invocation-token, `aud` the app id, an `app` object naming the installation.
Every JWKS fetch is counted, so tests can check the app caches keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.keys import generate_rsa_key, public_key_pem
from tests.fakes.server import LoopbackServer

APP_ID = "ari:cloud:ecosystem::app/6f0d3c1e-2b4a-4c8e-9d7f-0a1b2c3d4e5f"
INSTALLATION_ID = "ari:cloud:ecosystem::installation/5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
CLOUD_ID = "0c8a1b2d-3e4f-4a5b-9c6d-7e8f9a0b1c2d"
JWKS_PATH = "/.well-known/jwks.json"


def public_jwk(private_key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


class FakeForge:
    """One signing key to start with (`kid`); `rotate()` publishes a new one."""

    def __init__(self, *, app_id: str = APP_ID) -> None:
        self.app_id = app_id
        self._lock = threading.Lock()
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self._fetches = 0
        self.kid = self.rotate()
        app = Starlette(routes=[Route(JWKS_PATH, self._serve, methods=["GET"])])
        self._server = LoopbackServer(app, name="fake-forge")

    def __enter__(self) -> FakeForge:
        self._server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop()

    @property
    def jwks_url(self) -> str:
        return self._server.base_url + JWKS_PATH

    @property
    def fetches(self) -> int:
        with self._lock:
            return self._fetches

    def rotate(self) -> str:
        """Publish a new signing key and sign with it from now on; the old keys stay published."""
        kid = f"forge-{uuid.uuid4().hex[:12]}"
        with self._lock:
            self._keys[kid] = generate_rsa_key()
        self.kid = kid
        return kid

    def private_key(self, kid: str | None = None) -> rsa.RSAPrivateKey:
        with self._lock:
            return self._keys[kid or self.kid]

    def claims(self, **changes: Any) -> dict[str, Any]:
        """A FIT's claims as Forge sends them for a trigger; `changes` replace claims."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "forge/invocation-token",
            "aud": self.app_id,
            "iat": now,
            "nbf": now,
            "exp": now + 25,
            "jti": uuid.uuid4().hex,
            "app": {
                "id": self.app_id,
                "installationId": INSTALLATION_ID,
                "apiBaseUrl": f"https://api.atlassian.com/ex/jira/{CLOUD_ID}",
                "appVersion": "1.0.0",
                "environment": {"type": "DEVELOPMENT", "id": str(uuid.uuid4())},
                "module": {"type": "core:endpoint", "key": "forge-installed-endpoint"},
            },
        }
        claims.update(changes)
        return {key: value for key, value in claims.items() if value is not None}

    def token(
        self,
        claims: dict[str, Any] | None = None,
        *,
        key: Any = None,
        kid: str | None = None,
        algorithm: str = "RS256",
    ) -> str:
        """A token over `claims` (default: `self.claims()`), signed with this Forge's current
        key unless `key`, `kid` or `algorithm` say otherwise."""
        signing_key = key if key is not None else self.private_key()
        headers = {"kid": kid or self.kid}
        return pyjwt.encode(
            claims or self.claims(), signing_key, algorithm=algorithm, headers=headers
        )

    def unsigned_token(self, claims: dict[str, Any] | None = None) -> str:
        """A token with alg `none` and no signature."""
        header = {"alg": "none", "typ": "JWT", "kid": self.kid}
        return f"{_b64_json(header)}.{_b64_json(claims or self.claims())}."

    def hs256_token_keyed_with_public_key(self, claims: dict[str, Any] | None = None) -> str:
        """The RS/HS confusion attack: HS256 over the claims, keyed with the published RSA
        public key (PEM), as an attacker who read the JWKS could make."""
        header = {"alg": "HS256", "typ": "JWT", "kid": self.kid}
        unsigned = f"{_b64_json(header)}.{_b64_json(claims or self.claims())}"
        secret = public_key_pem(self.private_key()).encode("ascii")
        signature = hmac.new(secret, unsigned.encode("ascii"), hashlib.sha256).digest()
        return f"{unsigned}.{_b64(signature)}"

    async def _serve(self, _request: Request) -> Response:
        with self._lock:
            self._fetches += 1
            keys = [public_jwk(private, kid) for kid, private in self._keys.items()]
        return JSONResponse({"keys": keys})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64_json(value: Any) -> str:
    return _b64(json.dumps(value).encode("utf-8"))
