"""The app running beside a fake Jira and a fake Forge, and the Forge calls a site makes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from connector.tenant import Tenant
from tests.fakes.forge import APP_ID, INSTALLATION_ID, FakeForge
from tests.fakes.jira import FakeJira
from tests.integration.conftest import RunningApp

INSTALLED = "/forge/events/installed"
REFRESH = "/forge/scheduled/refresh"


@dataclass
class ForgeSite:
    """One Forge installation of the app on the fake Jira site."""

    app: RunningApp
    jira: FakeJira
    forge: FakeForge
    installation_id: str = INSTALLATION_ID

    def fit(self, principal: str | None = None, context: dict[str, Any] | None = None) -> str:
        """A FIT for this installation; `principal` and `context` as a UI call's carry them."""
        claims = self.forge.claims(principal=principal, context=context)
        claims["app"] = {
            **claims["app"],
            "installationId": self.installation_id,
            "apiBaseUrl": self.jira.api_base_url,
        }
        return self.forge.token(claims)

    def send(self, path: str, system_token: str | None, retry_count: int = 0) -> httpx.Response:
        """What Forge POSTs to the remote for the installed event or the scheduled trigger."""
        headers = {
            "Authorization": f"Bearer {self.fit()}",
            "x-b3-traceid": uuid.uuid4().hex[:16],
            "x-b3-spanid": uuid.uuid4().hex[:16],
        }
        if system_token is not None:
            headers["x-forge-oauth-system"] = system_token
        body = {
            "id": str(uuid.uuid4()),
            "app": {"id": APP_ID, "version": "1.0.0"},
            "environment": {"id": "env-1"},
            "context": f"ari:cloud:jira::site/{self.jira.system_tokens.cloud_id}",
            "retryContext": {"retryData": None, "retryCount": retry_count, "retryReason": None},
        }
        return httpx.post(self.app.base_url + path, json=body, headers=headers, timeout=10)

    def install(self, *, token_seconds: int = 3600) -> str:
        """The installed event, with a fresh system token; returns that token."""
        token = self.jira.system_tokens.issue(lifetime_seconds=token_seconds)
        response = self.send(INSTALLED, token)
        assert response.status_code == 200, response.text
        return token

    def tenant(self) -> Tenant:
        runtime = self.app.runtime
        tenant_id = runtime.forge_installations.tenant_id(self.installation_id)
        assert tenant_id is not None
        tenant = runtime.tenants.by_id(tenant_id)
        assert tenant is not None
        return tenant

    def admin_call(
        self,
        method: str,
        path: str,
        *,
        principal: str | None,
        json: Any = None,
        system_token: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """The admin API as a Forge UI module's `invokeRemote` calls it: a FIT as Bearer, and
        the system token when the endpoint asks for one."""
        headers = {"Authorization": f"Bearer {self.fit(principal, context)}"}
        if system_token is not None:
            headers["x-forge-oauth-system"] = system_token
        return httpx.request(
            method, f"{self.app.base_url}/api/v1{path}", json=json, headers=headers, timeout=30
        )
