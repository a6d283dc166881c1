"""Jira's side of the Connect lifecycle: signed-install tokens and reading the app descriptor.

Signed install (apiMigrations "signed-install"): Jira signs lifecycle callbacks with RS256;
the header's `kid` names a public key served by the install-key server, `aud` is the app's
baseUrl, `iss` the site's clientKey (developer.atlassian.com/cloud/jira/platform/
security-for-connect-apps/).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict
from urllib.parse import quote, urlsplit

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.connect.jwt import query_string_hash, request_target

INSTALL_TOKEN_TTL_SECONDS = 180


class TokenOverrides(TypedDict, total=False):
    """Ways to spoil a signed-install token, for negative tests of the app's checks."""

    audience: str
    issuer: str
    subject: str
    expires_in: int  # seconds from now; negative gives an expired token
    kid: str  # e.g. one the install-key server does not know
    signing_key: rsa.RSAPrivateKey  # a key whose public half is not published
    qsh: str
    # "RS256" (default); "HS256" signs with the public key PEM as the HMAC secret (the RS/HS
    # confusion attack); "none" sends no signature at all.
    algorithm: str
    token: str  # sent as is; "" sends no Authorization header


class InstallOverrides(TokenOverrides, total=False):
    shared_secret: str  # a new secret, as on re-install; adopted when the app accepts it
    payload: dict[str, Any]  # merged into the lifecycle JSON body


@dataclass(frozen=True)
class SentCallback:
    kind: str  # lifecycle event type, or webhook event name
    url: str
    status: int


@dataclass(frozen=True)
class InstallSigner:
    private_key: rsa.RSAPrivateKey
    public_key_pem: str
    kid: str

    def token(
        self,
        url: str,
        *,
        app_base_url: str,
        client_key: str,
        subject: str,
        overrides: TokenOverrides,
    ) -> str:
        if "token" in overrides:
            return overrides["token"]
        now = int(time.time())
        target = request_target("POST", url, base_path=urlsplit(app_base_url).path)
        claims: dict[str, Any] = {
            "iss": overrides.get("issuer", client_key),
            "sub": overrides.get("subject", subject),
            "aud": overrides.get("audience", app_base_url),
            "iat": now,
            "exp": now + overrides.get("expires_in", INSTALL_TOKEN_TTL_SECONDS),
            "qsh": overrides.get("qsh", query_string_hash(target)),
        }
        kid = overrides.get("kid", self.kid)
        algorithm = overrides.get("algorithm", "RS256")
        if algorithm == "RS256":
            key = overrides.get("signing_key", self.private_key)
            return pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
        header = {"alg": algorithm, "typ": "JWT", "kid": kid}
        if algorithm == "HS256":
            secret = self.public_key_pem.encode("ascii")
            return _compact(header, claims, lambda m: hmac.new(secret, m, hashlib.sha256).digest())
        if algorithm == "none":
            return _compact(header, claims, lambda _: b"")
        raise ValueError(f"unsupported algorithm override {algorithm!r}")


def _compact(
    header: Mapping[str, Any], claims: Mapping[str, Any], sign: Callable[[bytes], bytes]
) -> str:
    # PyJWT refuses to HMAC with a PEM key and to emit `none`; both are attacks to test.
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    signing_input = ".".join(
        b64(json.dumps(part, separators=(",", ":")).encode("utf-8")) for part in (header, claims)
    )
    return f"{signing_input}.{b64(sign(signing_input.encode('ascii')))}"


def app_url(app_base_url: str, url: str) -> str:
    """A descriptor URL (relative to baseUrl, or absolute) as an absolute URL."""
    if urlsplit(url).scheme:
        return url
    return app_base_url.rstrip("/") + "/" + url.lstrip("/")


def lifecycle_url(descriptor: Mapping[str, Any], event: str) -> str:
    path = (descriptor.get("lifecycle") or {}).get(event)
    if not isinstance(path, str):
        raise LookupError(f"the descriptor declares no lifecycle.{event} URL")
    return app_url(str(descriptor["baseUrl"]), path)


def webhook_url(descriptor: Mapping[str, Any], event: str, payload: Mapping[str, Any]) -> str:
    hooks = (descriptor.get("modules") or {}).get("webhooks") or []
    for hook in hooks:
        if hook.get("event") == event:
            expanded = re.sub(
                r"\{([\w.]+)\}",
                lambda m: quote(_context_value(payload, m[1]), safe=""),
                hook["url"],
            )
            return app_url(str(descriptor["baseUrl"]), expanded)
    raise LookupError(f"the descriptor declares no webhook for {event!r}")


def _context_value(payload: Mapping[str, Any], dotted: str) -> str:
    """A webhook URL variable such as `{issue.key}` or `{project.id}`, from the event payload."""
    value: Any = payload
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None and dotted.startswith("project."):
        issue_project = (payload.get("issue") or {}).get("fields", {}).get("project")
        value = (issue_project or {}).get(dotted.split(".", 1)[1])
    return "" if value is None else str(value)


def indexed_properties(
    descriptor: Mapping[str, Any],
) -> tuple[set[tuple[str, str]], dict[str, tuple[str, str]]]:
    """Issue property paths the descriptor's jiraEntityProperties index, and their aliases."""
    indexed: set[tuple[str, str]] = set()
    aliases: dict[str, tuple[str, str]] = {}
    for module in (descriptor.get("modules") or {}).get("jiraEntityProperties") or []:
        if module.get("entityType", "issue") != "issue":
            continue
        for config in module.get("keyConfigurations") or []:
            for extraction in config.get("extractions") or []:
                pair = (str(config["propertyKey"]), str(extraction["objectName"]))
                indexed.add(pair)
                if extraction.get("alias"):
                    aliases[str(extraction["alias"])] = pair
    return indexed, aliases
