"""Property-based tests of the admin API, generated from its own OpenAPI document.

Schemathesis turns `/api/v1/openapi.json` into requests: valid ones (positive) and ones that
break the document (negative: wrong types, missing fields, out-of-range numbers, unknown keys).
Every answer must be a documented status with a JSON body that fits its schema; bad input must
get a 4xx `{"error", "field"}`, never a 500. A 5xx is accepted only where the document promises
it for an unreachable mail server or Jira (502) or a missing feature (501).

Each request carries its own Connect JWT with the qsh of exactly that method, path and query,
as Jira signs app calls, so the fuzzing reaches the handlers instead of stopping at 401.

Nothing may leave the machine, so no operation needs to be left out: bodies that name a mail or
SMTP server (create, replace and test a source; save the outbound connection; its test) are
pointed at a loopback port that refuses connections, so enable, poll and the tests fail fast;
the fake Jira is on loopback; and name resolution is guarded for the whole test, so any other
destination (Microsoft's sign-in for an OAuth start, say) fails fast as unreachable and is
reported instead of being contacted.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any
from urllib.parse import unquote, urlsplit

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from requests.auth import AuthBase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from connector.admin.openapi import document
from connector.connect.jwt import RequestTarget, canonical_path, encode_token, parse_query
from connector.outcomes import Outcome
from connector.storage.outbox import NewMessage, Outbox
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import PASSWORD, AdminApi, make_admin_api
from tests.integration.conftest import RunningApp

# Examples per operation and generation mode: 34 operations x 2 modes x 30 is about 2,000
# requests, half a minute on two cores; `derandomize` makes every run send the same requests.
MAX_EXAMPLES = 30
SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)

# Fixed provider endpoints the app may try for OAuth or Microsoft Graph (not hosts a request
# names). The resolver guard refuses them, so those calls end as "unreachable" (502).
PROVIDER_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "graph.microsoft.com",
        "accounts.google.com",
        "oauth2.googleapis.com",
    }
)
# Operations whose JSON body names a mail or SMTP server to connect to (now or, once saved, on
# enable/poll/test): their `host` and `port` are rewritten to the refusing loopback port.
SERVER_BODIES = frozenset(
    {
        ("POST", "/api/v1/mail-sources"),
        ("POST", "/api/v1/mail-sources/test"),
        ("PUT", "/api/v1/mail-sources/{source_id}"),
        ("POST", "/api/v1/mail-sources/{source_id}/test"),
        ("PUT", "/api/v1/outbound-connection"),
    }
)
WRITE_ONLY = ("password", "api_token", "client_secret")
WORKAROUND_TOKEN = "ATATT-fuzz-workaround-token-0123456789"
CLIENT_SECRET = "fuzz-oauth-client-secret-9876543210"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})

FuzzCase = schemathesis.Case[Any]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite only: the fuzzing is about the API's answers, not the storage backend."""
    return sqlite_url


@dataclass
class ResolverGuard:
    """Stands in for `socket.getaddrinfo`: loopback resolves, anything else is refused and
    remembered, so the test can say which destinations the app tried to reach."""

    real: Callable[..., Any]
    refused: set[str] = field(default_factory=set)

    def __call__(self, host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.lower().rstrip(".") in LOOPBACK_NAMES or _is_loopback_ip(name):
            return self.real(host, *args, **kwargs)
        self.refused.add(name)
        raise socket.gaierror(socket.EAI_NONAME, "refused by the test: not a loopback host")


def _is_loopback_ip(name: str) -> bool:
    try:
        return ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


@pytest.fixture
def resolver_guard(monkeypatch: pytest.MonkeyPatch) -> ResolverGuard:
    guard = ResolverGuard(real=socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", guard)
    return guard


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound but never listens: connecting is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


class QshAuth(AuthBase):
    """A fresh Connect JWT per request, its qsh over the request as it is actually sent."""

    def __init__(self, jira: FakeJira, account_id: str) -> None:
        self.jira = jira
        self.account_id = account_id

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        # The app canonicalises the decoded path (ASGI's `path`), so sign that one; built here
        # rather than re-split, since a decoded path may hold `?`, `#` or a newline.
        target = RequestTarget(
            method=(request.method or "GET").upper(),
            path=canonical_path(unquote(parts.path)),
            query=parse_query(parts.query),
        )
        token = encode_token(
            issuer=self.jira.client_key,
            shared_secret=self.jira.shared_secret,
            target=target,
            extra_claims={"sub": self.account_id},
        )
        request.headers["Authorization"] = f"JWT {token}"
        return request


@dataclass(frozen=True)
class Seeded:
    """Rows the `{id}` paths can hit, and the secrets stored with them."""

    path_values: dict[str, list[Any]]
    secrets: tuple[str, ...]


def _seed(api: AdminApi, closed_port: int) -> Seeded:
    """Two sources (one enabled, so poll runs), log entries, an outbound message, settings."""
    runtime = api.app.runtime
    field_id = api.jira.add_custom_field("Customer address")
    first = api.create(host="127.0.0.1", port=closed_port, timeout_seconds=2)
    second = api.create(
        name="Billing",
        host="127.0.0.1",
        port=closed_port,
        protocol="pop3",
        security="none",
        after_processing="delete",
        policy={"field_mappings": [{"source": "sender", "field_id": field_id}]},
        address_rules=[{"match": "domain", "pattern": "*@billing.example", "project_key": "SUP"}],
    )
    assert runtime.sources.set_enabled(api.tenant_id, second["id"], True) is not None
    log = runtime.email_log
    failed = log.begin(api.tenant_id, first["id"], "INBOX:1:1", size=10)
    log.finish(failed.id, Outcome.FAILED, "Jira answered 500", trail=["parsed"])
    pending = log.begin(api.tenant_id, second["id"], "UIDL-2", size=20)
    outbox = Outbox(runtime.engine, runtime.secrets)
    queued = outbox.enqueue(
        NewMessage(
            tenant_id=api.tenant_id,
            kind="notification",
            dedupe_key="fuzz-1",
            recipient="jo@customer.example",
            subject="[SUP-1] Hello",
            message_id="<fuzz-1@mail-connector.example>",
            raw=b"Subject: [SUP-1] Hello\r\n\r\nHi\r\n",
            issue_key="SUP-1",
        )
    )
    assert queued is not None
    outbox.finish(queued.id, "failed", "send: 550 no such user")
    workaround = {"email": "lookup@example.com", "api_token": WORKAROUND_TOKEN}
    assert api.call("PUT", "/settings/workaround-user", json=workaround).status_code == 200
    oauth = {"provider": "google", "client_id": "fuzz.apps.example", "client_secret": CLIENT_SECRET}
    started = api.call("POST", f"/mail-sources/{first['id']}/oauth/start", json=oauth)
    assert started.status_code == 200, started.text
    return Seeded(
        path_values={
            "source_id": [first["id"], second["id"]],
            "entry_id": [failed.id, pending.id],
            "message_id": [queued.id],
            "project_key": ["SUP"],
        },
        secrets=(api.jira.shared_secret, PASSWORD, WORKAROUND_TOKEN, CLIENT_SECRET),
    )


def _keep_on_loopback(case: FuzzCase, closed_port: int) -> None:
    """Point a body that names a server at the refusing loopback port.

    A present `host` of the wrong type is left alone so its validation is still fuzzed; an
    absent one is filled in, since a provider preset would otherwise name a real server.
    """
    targets: list[dict[str, Any]] = []
    if (case.method.upper(), case.operation.path) in SERVER_BODIES and isinstance(case.body, dict):
        targets.append(case.body)
    if case.operation.path == "/api/v1/outbound-connection/test" and isinstance(case.body, dict):
        connection = case.body.get("connection")
        if isinstance(connection, dict):
            targets.append(connection)
    for body in targets:
        if not body:
            continue  # an empty body means "the saved settings", which are on loopback
        if not isinstance(body.get("host", ""), (int, float, list, dict, bool)):
            body["host"] = "127.0.0.1"
        port = body.get("port")
        if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
            body["port"] = closed_port


def _documented(case: FuzzCase) -> set[str]:
    operation = document()["paths"][case.operation.path][case.method.lower()]
    return set(operation["responses"])


def _sent_secrets(case: FuzzCase) -> list[str]:
    """Write-only values this request sent that are distinctive enough to spot in an answer."""
    bodies: list[dict[str, Any]] = [case.body] if isinstance(case.body, dict) else []
    connection = bodies[0].get("connection") if bodies else None
    if isinstance(connection, dict):
        bodies.append(connection)
    found = []
    for body in bodies:
        for name in WRITE_ONLY:
            value = body.get(name)
            if not isinstance(value, str) or len(value) < 12 or len(set(value)) < 5:
                continue
            rest = json.dumps({k: v for k, v in body.items() if k != name})
            if value not in rest and value not in case.formatted_path:
                found.append(value)
    return found


@dataclass
class Fuzzer:
    base_url: str
    session: requests.Session
    seeded: Seeded
    closed_port: int
    statuses: dict[int, int] = field(default_factory=dict)
    requests_sent: int = 0
    seeded_hits: int = 0  # 2xx answers about a seeded row

    def check(self, case: FuzzCase, pick: dict[str, Any]) -> None:
        if isinstance(case.path_parameters, dict):
            for name, value in pick.items():
                if name in case.path_parameters and value is not None:
                    case.path_parameters[name] = value
        _keep_on_loopback(case, self.closed_port)
        response = case.call(base_url=self.base_url, session=self.session, timeout=30)
        self.requests_sent += 1
        status = response.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if 200 <= status < 300 and any(value is not None for value in pick.values()):
            self.seeded_hits += 1
        allowed_5xx = status in (501, 502) and str(status) in _documented(case)
        checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
        if not allowed_5xx:
            checks.append(not_a_server_error)
        case.validate_response(response, checks=checks)
        text = response.content.decode("utf-8", "replace")
        for secret in (*self.seeded.secrets, *_sent_secrets(case)):
            assert secret not in text, f"{case.method} {case.formatted_path} answered a secret"
        if status == 401:
            raise AssertionError(f"the token was refused for {response.request.url!r}: {text}")

    def run(self, operation: Any, mode: GenerationMode) -> None:
        names = [p.name for p in operation.path_parameters]
        picks = st.fixed_dictionaries(
            {
                name: st.one_of(st.none(), st.sampled_from(self.seeded.path_values[name]))
                for name in names
                if name in self.seeded.path_values
            }
        )

        @SETTINGS
        @given(case=operation.as_strategy(generation_mode=mode), pick=picks)
        def fuzz(case: FuzzCase, pick: dict[str, Any]) -> None:
            self.check(case, pick)

        fuzz()


def test_admin_api_fuzz_every_operation_answers_documented_4xx_not_5xx(
    running_app: RunningApp,
    fake_jira: FakeJira,
    resolver_guard: ResolverGuard,
    closed_port: int,
) -> None:
    api = make_admin_api(running_app, fake_jira)
    seeded = _seed(api, closed_port)
    schema = schemathesis.openapi.from_dict(document())
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the document has operations schemathesis cannot read"
    # Deleting last keeps the seeded rows for the other operations to hit.
    operations.sort(key=lambda operation: operation.method.upper() == "DELETE")
    assert len(operations) >= 30
    failures: list[str] = []
    started = time.monotonic()
    with requests.Session() as session:
        session.auth = QshAuth(fake_jira, api.account_id)
        fuzzer = Fuzzer(running_app.base_url, session, seeded, closed_port)
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    fuzzer.run(operation, mode)
                except hypothesis.errors.Unsatisfiable:
                    # Nothing in this operation can be made invalid (no parameters, no body).
                    assert mode is GenerationMode.NEGATIVE, operation.label
                except (Exception, BaseExceptionGroup) as exc:
                    # Collected, so one run reports every operation at fault.
                    notes = "\n".join(getattr(exc, "__notes__", []))
                    failures.append(f"{operation.label} [{mode.value}]: {exc}\n{notes}")
    elapsed = time.monotonic() - started
    print(f"admin API fuzz: {fuzzer.requests_sent} requests in {elapsed:.1f}s, {fuzzer.statuses}")
    assert failures == [], "\n\n".join(failures)
    assert resolver_guard.refused <= PROVIDER_HOSTS, resolver_guard.refused
    # The fuzzing reached the handlers: successes and refusals of input both happened.
    assert any(200 <= status < 300 for status in fuzzer.statuses)
    assert fuzzer.statuses.get(400, 0) > 0
    assert fuzzer.seeded_hits > 0
    assert fuzzer.requests_sent >= len(operations) * MAX_EXAMPLES
