"""A fake Jira Cloud site on a loopback port, for tests of the Connect app.

It checks what real Jira checks on the app's requests (tenant JWT with qsh, or API-token Basic
auth; bodies against the published OpenAPI spec; ADF against its schema), keeps issues in
memory, and plays Jira's side of the Connect lifecycle: signed-install callbacks (RS256, key
served by a fake install-key server) and JWT-signed webhooks.

    with FakeJira() as jira:
        jira.add_project("PROJ", "Support")
        jira.install(app_base_url)
        ...
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any, Unpack
from urllib.parse import urlsplit

import httpx

from connector.connect.jwt import encode_token, request_target
from tests.fakes import catalogue as cat
from tests.fakes import render
from tests.fakes.authorization import AuthorizationServer, TokenRequest
from tests.fakes.gateway import Fault, JiraGateway, LoggedRequest, Tenant, ValidationFailure
from tests.fakes.keys import InstallKeyServer, generate_rsa_key, public_key_pem
from tests.fakes.lifecycle import (
    InstallOverrides,
    InstallSigner,
    SentCallback,
    TokenOverrides,
    indexed_properties,
    lifecycle_url,
    webhook_url,
)
from tests.fakes.openapi import adf_schema, jira_openapi, jsm_openapi
from tests.fakes.rate_limits import RateLimits
from tests.fakes.server import LoopbackServer
from tests.fakes.site import JiraError, JiraSite, User
from tests.fakes.system_tokens import SystemTokens

__all__ = [
    "FakeJira",
    "InstallOverrides",
    "LoggedRequest",
    "SentCallback",
    "TokenOverrides",
    "ValidationFailure",
]

_CALLBACK_TIMEOUT_SECONDS = 10.0


class FakeJira:
    """One fake Jira Cloud site, with the app under test as its one tenant."""

    def __init__(
        self,
        *,
        app_key: str = "mail-connector",
        key_server: InstallKeyServer | None = None,
        authorization: AuthorizationServer | None = None,
    ) -> None:
        """`key_server`: another fake's install-key server to publish this site's key on, for
        tests with several sites and one app configured with one install-keys URL;
        `authorization`: likewise, another fake's authorization server (user impersonation)."""
        self.app_base_url: str | None = None
        self.descriptor: dict[str, Any] | None = None
        self.installer_account_id = f"557058:{uuid.uuid4()}"
        self.callbacks_log: list[SentCallback] = []
        self._lock = threading.RLock()
        self._tenant = Tenant(
            app_key=app_key,
            client_key=f"jira:{uuid.uuid4()}",
            shared_secret=secrets.token_urlsafe(48),
            app_account_id=f"557058:app-{uuid.uuid4()}",
            oauth_client_id=secrets.token_urlsafe(24),
        )
        self._site = JiraSite()
        # The app acts in Jira as its own bot user (accountType "app").
        self._site.users[self._tenant.app_account_id] = User(
            self._tenant.app_account_id, "", app_key, account_type="app", email_visible=False
        )
        private_key = generate_rsa_key()
        self._signer = InstallSigner(private_key, public_key_pem(private_key), f"{uuid.uuid4()}")
        self.key_server = key_server or InstallKeyServer()
        self.key_server.publish(self._signer.kid, self._signer.public_key_pem)
        self._owns_key_server = False
        self.authorization = authorization or AuthorizationServer()
        self._owns_authorization = False
        self._gateway = JiraGateway(self._site, self._tenant, self._lock, self.authorization)
        self._server = LoopbackServer(self._gateway.asgi_app(), name="fake-jira")

    # --- running ------------------------------------------------------------------------------

    def start(self) -> FakeJira:
        # Loaded here, in the test's thread, so that a missing spec skips the test instead of
        # failing requests inside the server thread.
        jira_openapi()
        jsm_openapi()
        adf_schema()
        if not self.key_server.running:
            self.key_server.start()
            self._owns_key_server = True
        try:
            if not self.authorization.running:
                self.authorization.start()
                self._owns_authorization = True
            self._server.start()
        except BaseException:
            self._stop_helpers()
            raise
        self._site.base_url = self._server.base_url
        self.authorization.register(
            self._tenant.oauth_client_id, self._server.base_url, lambda: self.shared_secret
        )
        return self

    def stop(self) -> None:
        self._gateway.stopping.set()
        if self._owns_key_server:
            self.key_server.request_stop()
        if self._owns_authorization:
            self.authorization.request_stop()
        self._server.stop()
        self._stop_helpers()

    def _stop_helpers(self) -> None:
        if self._owns_key_server:
            self.key_server.stop()
            self._owns_key_server = False
        if self._owns_authorization:
            self.authorization.stop()
            self._owns_authorization = False

    def __enter__(self) -> FakeJira:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- identity -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def app_key(self) -> str:
        return self._tenant.app_key

    @property
    def client_key(self) -> str:
        return self._tenant.client_key

    @property
    def shared_secret(self) -> str:
        with self._lock:
            return self._tenant.shared_secret

    @shared_secret.setter
    def shared_secret(self, value: str) -> None:
        """Change the secret behind the app's back (the app still signs with the old one)."""
        with self._lock:
            self._tenant.shared_secret = value

    @property
    def app_account_id(self) -> str:
        return self._tenant.app_account_id

    @property
    def oauth_client_id(self) -> str:
        """What the `installed` callback names the app's OAuth client with."""
        return self._tenant.oauth_client_id

    @property
    def authorization_server_url(self) -> str:
        """Where the app asks for users' access tokens (Atlassian's, in production)."""
        return self.authorization.url

    @property
    def token_requests(self) -> list[TokenRequest]:
        """Requests to the authorization server for this site's install."""
        return [
            r
            for r in self.authorization.token_requests
            if r.oauth_client_id == self.oauth_client_id
        ]

    def refuse_impersonation(self, *, account_id: str | None = None, status: int = 401) -> None:
        """The authorization server refuses tokens for `account_id`, or (None) for every user
        of this site, as when the site has not consented to ACT_AS_USER."""
        self.authorization.refuse(self.oauth_client_id, account_id=account_id, status=status)

    @property
    def kid(self) -> str:
        return self._signer.kid

    @property
    def public_key_pem(self) -> str:
        return self._signer.public_key_pem

    @property
    def install_keys_url(self) -> str:
        return self.key_server.url

    @property
    def key_fetches(self) -> int:
        """Fetches of any kid from the install-key server (shared servers count for all)."""
        return self.key_server.fetches

    @property
    def system_tokens(self) -> SystemTokens:
        """Forge app system tokens this site's gateway URL (`api_base_url`) accepts."""
        return self._gateway.system_tokens

    @property
    def api_base_url(self) -> str:
        """What Forge names as `app.apiBaseUrl`: the site through Atlassian's gateway."""
        return f"{self.base_url}/ex/jira/{self._gateway.system_tokens.cloud_id}"

    @property
    def api_tokens(self) -> dict[str, str]:
        """email -> API token accepted with Basic auth; tests fill it."""
        return self._gateway.api_tokens

    def add_service_account(
        self, email: str, display_name: str = "Mail service", *, indexed: bool = False
    ) -> tuple[str, str]:
        """A site used without the app installed: an account with an API token, for
        `connector site add --email ... --token-env ...`; returns (account id, token).

        With no app installed nothing indexes entity properties for JQL (only an app's
        descriptor does), so unless `indexed` such a search fails as it does in Jira."""
        account_id = f"557058:{uuid.uuid4()}"
        token = secrets.token_urlsafe(24)
        self.add_user(account_id, email, display_name)
        with self._lock:
            self._gateway.api_tokens[email] = token
            if not indexed and self.descriptor is None:
                self._site.indexed_properties = set()
        return account_id, token

    @property
    def requests_log(self) -> list[LoggedRequest]:
        return self._gateway.requests_log

    @property
    def validation_failures(self) -> list[ValidationFailure]:
        return self._gateway.validation_failures

    # --- seeding and inspection ---------------------------------------------------------------

    def add_project(
        self,
        key: str,
        name: str,
        issue_types: Sequence[str] = ("Task", "Bug"),
        *,
        required_fields: Sequence[str] = (),
        project_type: str = "software",
    ) -> dict[str, Any]:
        """Add a project; `required_fields` (field ids) must be set on create; `project_type`
        "service_desk" makes it a Jira Service Management project."""
        with self._lock:
            project = self._site.add_project(
                key, name, issue_types, required_fields, type_key=project_type
            )
            return render.project_json(self._site, project)

    def add_user(
        self,
        account_id: str,
        email: str,
        display_name: str,
        *,
        active: bool = True,
        account_type: str = "atlassian",
        email_visible: bool = True,
    ) -> dict[str, Any]:
        with self._lock:
            self._site.users[account_id] = User(
                account_id, email, display_name, active, account_type, email_visible
            )
            user = render.user_json(self._site, account_id, full=True)
        assert user is not None
        return user

    def add_custom_field(
        self, name: str, schema_type: str = "string", *, projects: Sequence[str] | None = None
    ) -> str:
        """Add a custom field and return its id; it is on the create screen of `projects`
        (default: all). schema_type: string, textarea (ADF), url, number, date, datetime,
        option, user, labels."""
        with self._lock:
            return self._site.add_custom_field(name, schema_type, projects).id

    def put_on_create_screen(self, field_id: str, project_key: str) -> None:
        """What a Jira admin does after creating a field: add it to a project's create screen."""
        with self._lock:
            custom = self._site.custom_fields[field_id]
            if custom.projects is not None:
                projects = custom.projects | {project_key.upper()}
                self._site.custom_fields[field_id] = replace(custom, projects=projects)

    def set_permissions(self, *keys: str, account_id: str | None = None) -> None:
        """Replace the permissions a principal holds; None means the app (or API-token user).

        `GET /mypermissions` answers for the caller; `POST /permissions/check` for its
        `accountId`."""
        unknown = [key for key in keys if key not in cat.ALL_PERMISSIONS]
        if unknown:
            raise ValueError(f"unknown permission keys {unknown}")
        with self._lock:
            self._site.permissions[account_id] = frozenset(keys)

    def set_attachment_limit(self, max_bytes: int | None) -> None:
        """Uploads above `max_bytes` get 413, as with a site's attachment size setting."""
        with self._lock:
            self._site.attachment_max_bytes = max_bytes

    def issue(self, issue_id_or_key: str) -> dict[str, Any] | None:
        """The issue as `GET /issue/{key}` shows it, with its properties; None if absent."""
        with self._lock:
            try:
                found = self._site.find_issue(issue_id_or_key)
            except JiraError:
                return None
            return render.issue_json(self._site, found, wanted=lambda _: True, properties=["*all"])

    def add_agent_comment(
        self, issue_key: str, body: dict[str, Any], author_id: str, *, internal: bool = False
    ) -> dict[str, Any]:
        """A comment an agent wrote in Jira (an internal JSM note with `internal`); answers it
        as the `comment` of a comment_created webhook."""
        properties = [{"key": "sd.public.comment", "value": {"internal": True}}] if internal else []
        with self._lock:
            issue = self._site.find_issue(issue_key)
            comment = self._site.add_comment(
                issue, {"body": body, "properties": properties}, author_id
            )
            return render.comment_json(self._site, issue, comment)

    def change_status(self, issue_key: str, status: str, author_id: str) -> dict[str, Any]:
        """An agent moves the issue to `status` in Jira; answers the changelog entry."""
        with self._lock:
            return self._site.change_status(self._site.find_issue(issue_key), status, author_id)

    def request_participants(self, issue_key: str) -> list[str]:
        """Account ids of a JSM request's participants."""
        with self._lock:
            return list(self._site.find_issue(issue_key).participants)

    def customers(self) -> dict[str, str]:
        """JSM customers the site has: email -> account id."""
        with self._lock:
            return {
                u.email: u.account_id
                for u in self._site.users.values()
                if u.account_type == "customer"
            }

    def custom_fields(self) -> dict[str, str]:
        """Custom fields: name -> id."""
        with self._lock:
            return {f.name: f.id for f in self._site.custom_fields.values()}

    def issue_keys(self) -> list[str]:
        with self._lock:
            return [issue.key for issue in self._site.issues.values()]

    def attachment_content(self, attachment_id: str) -> bytes:
        with self._lock:
            return self._site.find_attachment(attachment_id).content

    # --- fault injection ----------------------------------------------------------------------

    def inject_fault(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests with `status` and a JSON error body.

        Only requests that pass authentication are matched: the fault stands for Jira's answer
        to an otherwise good call."""
        self._gateway.add_fault(Fault(status, times, retry_after, method, path_contains))

    def inject_delay(
        self, seconds: float, *, times: int = 1, path_contains: str | None = None
    ) -> None:
        """Hold the next `times` matching requests for `seconds` before answering them."""
        self._gateway.add_fault(Fault(0, times, path_contains=path_contains, delay=seconds))

    def play_rate_limits(self, limits: RateLimits) -> RateLimits:
        """Answer as Jira Cloud does under its rate limits (tests.fakes.rate_limits)."""
        with self._lock:
            self._gateway.limits = limits
        return limits

    @property
    def peak_in_flight(self) -> int:
        """The most requests this fake was answering at once."""
        with self._lock:
            return self._gateway.peak_in_flight

    def clear_faults(self) -> None:
        """Drop injected faults and delays not yet used up."""
        with self._lock:
            self._gateway.faults.clear()

    # --- Connect lifecycle and webhooks -------------------------------------------------------

    def signed_install_token(
        self, url: str, *, app_base_url: str | None = None, **overrides: Unpack[TokenOverrides]
    ) -> str:
        """The RS256 token `install()` and friends send to lifecycle `url`."""
        base = app_base_url or self.app_base_url
        if base is None:
            raise ValueError("install() first, or pass app_base_url")
        return self._signer.token(
            url,
            app_base_url=base,
            client_key=self.client_key,
            subject=self.installer_account_id,
            overrides=overrides,
        )

    def install(self, app_base_url: str, **overrides: Unpack[InstallOverrides]) -> httpx.Response:
        """Fetch the app's descriptor and POST the signed `installed` callback."""
        descriptor_url = app_base_url.rstrip("/") + "/atlassian-connect.json"
        with httpx.Client(timeout=_CALLBACK_TIMEOUT_SECONDS) as client:
            answer = client.get(descriptor_url)
        answer.raise_for_status()
        descriptor: dict[str, Any] = answer.json()
        with self._lock:
            self.descriptor = descriptor
            self.app_base_url = str(descriptor["baseUrl"])
        secret = overrides.get("shared_secret", self.shared_secret)
        response = self._send_lifecycle("installed", overrides, shared_secret=secret)
        if response.is_success:
            indexed, aliases = indexed_properties(descriptor)
            with self._lock:
                self._tenant.shared_secret = secret
                self._tenant.uninstalled = False
                self._site.indexed_properties = indexed
                self._site.property_aliases = aliases
        return response

    def uninstall(self, **overrides: Unpack[InstallOverrides]) -> httpx.Response:
        response = self._send_lifecycle("uninstalled", overrides)
        if response.is_success:
            with self._lock:
                self._tenant.uninstalled = True
        return response

    def enable(self, **overrides: Unpack[InstallOverrides]) -> httpx.Response:
        return self._send_lifecycle("enabled", overrides)

    def disable(self, **overrides: Unpack[InstallOverrides]) -> httpx.Response:
        return self._send_lifecycle("disabled", overrides)

    def lifecycle_payload(
        self, event_type: str, shared_secret: str | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "key": self.app_key,
            "clientKey": self.client_key,
            "serverVersion": "100285",
            "pluginsVersion": "1001.0.0-SNAPSHOT",
            "baseUrl": self.base_url,
            "displayUrl": self.base_url,
            "productType": "jira",
            "description": "Atlassian JIRA at " + self.base_url,
            "eventType": event_type,
            "oauthClientId": self.oauth_client_id,
        }
        # Only `installed` carries the secret (Connect lifecycle docs: "only sent on the
        # installed event").
        if shared_secret is not None:
            payload["sharedSecret"] = shared_secret
        return payload

    def _send_lifecycle(
        self, event_type: str, overrides: InstallOverrides, shared_secret: str | None = None
    ) -> httpx.Response:
        with self._lock:
            descriptor, base = self.descriptor, self.app_base_url
        if descriptor is None or base is None:
            raise RuntimeError("install() the app first")
        url = lifecycle_url(descriptor, event_type)
        payload = {
            **self.lifecycle_payload(event_type, shared_secret),
            **overrides.get("payload", {}),
        }
        # InstallOverrides is a TokenOverrides with more keys; the signer reads only its own.
        token = self._signer.token(
            url,
            app_base_url=base,
            client_key=self.client_key,
            subject=self.installer_account_id,
            overrides=overrides,
        )
        # An empty `token` override means a callback with no Authorization header at all.
        headers = {"Authorization": f"JWT {token}"} if token else {}
        return self._post(event_type, url, payload, headers)

    def send_webhook(
        self, event: str, payload: dict[str, Any], *, identifier: bool = True
    ) -> httpx.Response:
        """POST a webhook the descriptor subscribes to, signed with the tenant's secret;
        `identifier=False` leaves out the delivery id header, as some deliveries do."""
        with self._lock:
            descriptor, base = self.descriptor, self.app_base_url
        if descriptor is None or base is None:
            raise RuntimeError("install() the app first")
        url = webhook_url(descriptor, event, payload)
        body = {**payload, "webhookEvent": event, "timestamp": int(time.time() * 1000)}
        token = encode_token(
            issuer=self.client_key,
            shared_secret=self.shared_secret,
            target=request_target("POST", url, base_path=urlsplit(base).path),
        )
        headers = {"Authorization": f"JWT {token}"}
        if identifier:
            # Jira's delivery id, the same on retries, so receivers can drop duplicates.
            headers["X-Atlassian-Webhook-Identifier"] = str(uuid.uuid4())
        return self._post(event, url, body, headers)

    def _post(
        self, kind: str, url: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response:
        with httpx.Client(timeout=_CALLBACK_TIMEOUT_SECONDS) as client:
            response = client.post(url, json=payload, headers=headers)
        with self._lock:
            self.callbacks_log.append(SentCallback(kind, url, response.status_code))
        return response
