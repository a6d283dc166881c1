"""The install-key server: public keys for signed-install tokens, by key id.

Mirrors `https://connect-install-keys.atlassian.com/{kid}`, which answers a PEM public key as
text (developer.atlassian.com/cloud/jira/platform/security-for-connect-apps/, "Validating
installation lifecycle requests").
"""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.server import LoopbackServer


def generate_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_key_pem(private_key: rsa.RSAPrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


class InstallKeyServer:
    """Serves `GET /{kid}` as a PEM public key; counts every fetch so caching can be checked.

    Several fake sites may share one, as all Jira sites share Atlassian's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}
        self._fetches = 0
        app = Starlette(routes=[Route("/{kid:path}", self._serve, methods=["GET"])])
        self._server = LoopbackServer(app, name="fake-install-keys")

    @property
    def url(self) -> str:
        return self._server.base_url

    @property
    def fetches(self) -> int:
        with self._lock:
            return self._fetches

    @property
    def running(self) -> bool:
        return self._server.running

    def publish(self, kid: str, pem: str) -> None:
        with self._lock:
            self._keys[kid] = pem

    def start(self) -> None:
        self._server.start()

    def request_stop(self) -> None:
        self._server.request_stop()

    def stop(self) -> None:
        self._server.stop()

    async def _serve(self, request: Request) -> Response:
        kid = request.path_params["kid"]
        with self._lock:
            self._fetches += 1
            pem = self._keys.get(kid)
        if pem is None:
            return PlainTextResponse("Not Found", status_code=404)
        return PlainTextResponse(pem)
