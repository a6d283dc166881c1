"""Calling the admin API of the running app as a Jira administrator of the fake Jira site.

Tokens are Connect context tokens (`qsh = context-qsh`, as `AP.context.getToken()` makes them)
naming a user the fake Jira calls an administrator (`ADMINISTER`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from connector.connect.jwt import encode_token, request_target
from connector.outbound_config import ConnectionSpec
from connector.storage.outbound import OutboundRepository
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp import SmtpServer

PASSWORD = "s3cret-Mailbox-Password"


@dataclass
class AdminApi:
    app: RunningApp
    jira: FakeJira
    account_id: str
    answers: list[httpx.Response] = field(default_factory=list)

    @property
    def tenant_id(self) -> int:
        tenant = self.app.runtime.tenants.get(self.jira.client_key)
        assert tenant is not None
        return tenant.id

    def token(self, account_id: str | None = None, *, jira: FakeJira | None = None) -> str:
        site = jira or self.jira
        subject = self.account_id if account_id is None else account_id
        return encode_token(
            issuer=site.client_key,
            shared_secret=site.shared_secret,
            target=None,
            extra_claims={"sub": subject} if subject else None,
        )

    def qsh_token(self, method: str, path: str) -> str:
        return encode_token(
            issuer=self.jira.client_key,
            shared_secret=self.jira.shared_secret,
            target=request_target(method, path),
            extra_claims={"sub": self.account_id},
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        token: str | None = None,
        authorization: str | None = None,
    ) -> httpx.Response:
        """`path` below /api/v1; the answer is kept so tests can look through all of them."""
        headers = {"Authorization": authorization or f"JWT {token or self.token()}"}
        if authorization == "":
            headers = {}
        response = httpx.request(
            method,
            f"{self.app.base_url}/api/v1{path}",
            json=json,
            content=content,
            headers=headers,
            timeout=30,
        )
        self.answers.append(response)
        return response

    def poll(self, source_id: int, timeout: float = 30.0) -> dict[str, Any]:
        """Press "Poll now", then follow the poll it started until it has ended: its figures."""
        started = self.call("POST", f"/mail-sources/{source_id}/poll")
        assert started.status_code == 202, started.text
        location = started.headers["Location"].removeprefix("/api/v1")
        deadline = time.monotonic() + timeout
        while True:
            answer = self.call("GET", location)
            assert answer.status_code == 200, answer.text
            poll: dict[str, Any] = answer.json()["poll"]
            if poll["state"] == "idle":
                return poll
            assert time.monotonic() < deadline, f"the poll did not end in {timeout} s: {poll}"
            time.sleep(0.05)

    def create(self, **overrides: Any) -> dict[str, Any]:
        response = self.call("POST", "/mail-sources", json=source_body(**overrides))
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


def make_admin_api(app: RunningApp, jira: FakeJira) -> AdminApi:
    """Install the app into the fake site and make one of its users an administrator."""
    assert jira.install(app.base_url).status_code == 204
    jira.add_project("SUP", "Support", issue_types=("Task", "Bug"))
    account_id = f"557058:admin-{uuid.uuid4()}"
    jira.add_user(account_id, "admin@example.com", "Ada Admin")
    jira.set_permissions("ADMINISTER", account_id=account_id)
    return AdminApi(app=app, jira=jira, account_id=account_id)


def source_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Support inbox",
        "description": "the service desk's shared mailbox",
        "host": "imap.example.com",
        "username": "support@example.com",
        "password": PASSWORD,
        "project_key": "SUP",
        "issue_type": "Task",
    }
    body.update(overrides)
    return {name: value for name, value in body.items() if value is not ...}


def dovecot_body(dovecot: Dovecot, user: MailUser, **overrides: Any) -> dict[str, Any]:
    """Settings for the test Dovecot's IMAP over implicit TLS (self-signed: checks off)."""
    settings: dict[str, Any] = {
        "host": dovecot.host,
        "port": dovecot.ports.imaps,
        "security": "ssl",
        "verify_tls": False,
        "timeout_seconds": 5,
        "username": user.name,
        "password": user.password,
    }
    return source_body(**{**settings, **overrides})


def connect_outbound(api: AdminApi, server: SmtpServer, **changes: Any) -> None:
    """Save the site's outbound connection to the test SMTP server (STARTTLS, its password)."""
    runtime = api.app.runtime
    OutboundRepository(runtime.engine, runtime.secrets).save_connection(
        api.tenant_id, ConnectionSpec(**outbound_body(server, **changes)), password=server.password
    )


def outbound_body(server: SmtpServer, **changes: Any) -> dict[str, Any]:
    """The outbound connection to the test SMTP server (STARTTLS, no password unless given),
    as the admin API takes it; `changes` override."""
    return {
        "host": server.host,
        "port": server.port,
        "security": "starttls",
        "verify_tls": False,
        "username": server.username,
        "from_address": "notify@support.example",
        "timeout_seconds": 5,
        **changes,
    }
