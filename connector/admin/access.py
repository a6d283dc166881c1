"""Who may use the admin API: a Jira administrator of the tenant whose token signs the call.

The token proves the tenant (its shared secret) and names the user (`sub`); whether that user
administers the site is Jira's to say. A Forge UI module calls through `invokeRemote` with a
Forge Invocation Token instead (`Authorization: Bearer`): it proves the installation
(`app.installationId`, so only that installation's tenant) and names the user (`principal`),
and the same check follows. A browser tab signed in with `connector admin-link` (a site
connected without an install) brings a session cookie (`connector.admin.site_session`) that
names the site's account, whose own token asks Jira the same question.

The answer is cached briefly per tenant and account so a page making a few calls asks Jira
once, while a revoked administrator loses access within a minute. A "no" is cached for less
time than a "yes": someone just made an administrator should not wait long.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from connector import logs
from connector.admin.errors import ApiError
from connector.admin.jira_access import (
    check_global_permission,
    check_own_permission,
    check_project_permission,
)
from connector.admin.site_session import session_caller
from connector.connect.auth import AuthenticatedRequest, AuthenticationError
from connector.connect.http import authenticate_request
from connector.connect.install import site_url_problem
from connector.forge.auth import authenticate as authenticate_forge
from connector.forge.invocation import InvocationError
from connector.forge.system_token import SYSTEM_AUTH_HEADER, token_expiry, usable_token
from connector.jira.auth import tenant_site
from connector.jira.errors import JiraError
from connector.runtime import Runtime
from connector.settings import FORGE_APP_ID_MISSING
from connector.tenant import Tenant

log = logging.getLogger(__name__)

ADMIN_PERMISSION = "ADMINISTER"
# What makes a project administrator: enough to see which mail feeds their project.
PROJECT_ADMIN_PERMISSION = "ADMINISTER_PROJECTS"
ALLOWED_TTL_SECONDS = 60.0
REFUSED_TTL_SECONDS = 15.0
MAX_CACHED = 4096
_CHECK_TIMEOUT_SECONDS = 10

AdminLookup = Callable[[Tenant, str], bool]


@dataclass(frozen=True)
class Caller:
    """An authenticated administrator of `tenant`."""

    tenant: Tenant
    account_id: str


class AdminCache:
    """Bounded, time-limited memory of Jira's answers, keyed by (client_key, account_id)."""

    def __init__(
        self,
        lookup: AdminLookup,
        *,
        allowed_ttl: float = ALLOWED_TTL_SECONDS,
        refused_ttl: float = REFUSED_TTL_SECONDS,
        max_entries: int = MAX_CACHED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._allowed_ttl = allowed_ttl
        self._refused_ttl = refused_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def is_admin(self, tenant: Tenant, account_id: str) -> bool:
        key = (tenant.client_key, account_id)
        now = self._clock()
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None and cached[0] > now:
                return cached[1]
        allowed = self._lookup(tenant, account_id)  # outside the lock: it is a network call
        ttl = self._allowed_ttl if allowed else self._refused_ttl
        with self._lock:
            self._entries[key] = (now + ttl, allowed)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return allowed


def jira_admin_lookup(app_key: str) -> AdminLookup:
    """Ask the tenant's Jira, signed as the app, whether the account administers the site."""

    def lookup(tenant: Tenant, account_id: str) -> bool:
        site = tenant_site(tenant, app_key=app_key)
        if tenant.site is not None:
            # A site without an install is used as its account, which is the only user its
            # sessions name; Jira says with the account's own token whether it administers
            # (the only way on Data Center, which cannot be asked about another account).
            return account_id == tenant.site.account_id and check_own_permission(
                site, ADMIN_PERMISSION, timeout_seconds=_CHECK_TIMEOUT_SECONDS
            )
        return check_global_permission(
            site, account_id, ADMIN_PERMISSION, timeout_seconds=_CHECK_TIMEOUT_SECONDS
        )

    return lookup


_cache_lock = threading.Lock()


def admin_cache(request: Request) -> AdminCache:
    """The app's cache, made on first use (one per app, so tests with several apps agree)."""
    state = request.app.state
    with _cache_lock:
        cache: AdminCache | None = getattr(state, "admin_cache", None)
        if cache is None:
            runtime: Runtime = state.runtime
            cache = AdminCache(jira_admin_lookup(runtime.settings.app_key))
            state.admin_cache = cache
    return cache


async def authenticate_caller(request: Request) -> AuthenticatedRequest:
    """The tenant and claims of the token; 401 when there is none or it does not verify."""
    runtime: Runtime = request.app.state.runtime
    authorization = request.headers.get("authorization") or ""
    if not authorization:
        # A browser tab signed in with `connector admin-link` (a site without an install).
        session = session_caller(request)
        if session is not None:
            return session
    if authorization[:7].lower() == "bearer ":
        system_token = usable_token(request.headers.get(SYSTEM_AUTH_HEADER))
        return await _forge_caller(runtime, authorization, system_token, request.url.path)
    try:
        return authenticate_request(
            request,
            tenants=runtime.tenants,
            base_path=runtime.settings.base_path,
            allow_context_qsh=True,
        )
    except AuthenticationError as exc:
        logs.event(log, "admin.api_refused", logging.WARNING, path=request.url.path, reason=exc)
        raise ApiError(401, str(exc)) from exc


async def _forge_caller(
    runtime: Runtime, authorization: str, system_token: str | None, path: str
) -> AuthenticatedRequest:
    """The tenant of the installation a Forge Invocation Token names, and the token's user.
    A system token the call brings (`invokeRemote` through an endpoint with `appSystemToken`
    enabled) is kept, as the Forge events' are."""
    app_id = runtime.settings.forge_app_id
    try:
        if app_id is None:
            raise InvocationError(FORGE_APP_ID_MISSING, status=503)
        invocation = await authenticate_forge(authorization, app_id=app_id, keys=runtime.forge_keys)
        tenant_id = runtime.forge_installations.tenant_id(invocation.installation_id)
        tenant = None if tenant_id is None else runtime.tenants.by_id(tenant_id)
        # One answer for "unknown" and "uninstalled", as for Connect tokens.
        if tenant is None or not tenant.installed:
            raise InvocationError("token names no installation of this app")
        if not tenant.enabled:
            raise InvocationError("the app is disabled on this Jira site")
    except InvocationError as exc:
        logs.event(log, "admin.api_refused", logging.WARNING, path=path, reason=exc)
        raise ApiError(exc.status, str(exc)) from exc
    if system_token is not None:
        runtime.forge_installations.save_system_token(
            invocation.installation_id, system_token, token_expiry(system_token)
        )
    _learn_site_url(runtime, tenant, invocation.claims.get("context"))
    tenant = runtime.tenants.by_id(tenant.id) or tenant
    claims = {key: value for key, value in invocation.claims.items() if key != "sub"}
    principal = claims.get("principal")
    if isinstance(principal, str) and principal:
        claims["sub"] = principal  # the user the admin check asks Jira about
    return AuthenticatedRequest(tenant=tenant, claims=claims)


def _learn_site_url(runtime: Runtime, tenant: Tenant, context: object) -> None:
    """Forge's events name only the gateway URL; a UI call's token says the site's own
    address (`context.siteUrl`), which admins and customers are shown as a link."""
    if tenant.shared_secret is not None or tenant.display_url != tenant.base_url:
        return
    site_url = context.get("siteUrl") if isinstance(context, dict) else None
    if not isinstance(site_url, str):
        return
    site_url = site_url.rstrip("/")
    production = runtime.settings.is_production
    if site_url_problem(site_url, production=production, atlassian=True) is None:
        runtime.forge_installations.set_site_url(tenant.id, site_url)


def require_admin(cache: AdminCache, authenticated: AuthenticatedRequest) -> Caller:
    """403 unless the token names a user Jira calls an administrator (blocking: Jira call)."""
    tenant = authenticated.tenant
    account_id = authenticated.account_id
    if not account_id:
        raise ApiError(
            403,
            "this token names no user (an app-only token); the admin API acts for a Jira "
            "administrator, so call it with a token from AP.context.getToken()",
        )
    try:
        allowed = cache.is_admin(tenant, account_id)
    except JiraError as exc:
        logs.event(
            log,
            "admin.check_failed",
            logging.WARNING,
            client_key=tenant.client_key,
            status=exc.status,
            error=exc,
        )
        raise ApiError(502, f"could not ask Jira whether you are an administrator: {exc}") from exc
    if not allowed:
        logs.event(
            log,
            "admin.not_admin",
            logging.WARNING,
            client_key=tenant.client_key,
            account=account_id,
        )
        raise ApiError(
            403,
            "only Jira administrators of this site may manage the mail connector; ask one to "
            "grant you the 'Administer Jira' global permission",
        )
    return Caller(tenant=tenant, account_id=account_id)


def require_project_admin(
    cache: AdminCache, authenticated: AuthenticatedRequest, project_key: str, app_key: str
) -> Caller:
    """A Jira administrator, or an administrator of this one project (its settings tab shows
    which mail feeds it): 403 for anyone else, with the same words as `require_admin`."""
    try:
        return require_admin(cache, authenticated)
    except ApiError as refused:
        if refused.status != 403 or not authenticated.account_id:
            raise
        tenant = authenticated.tenant
        site = tenant_site(tenant, app_key=app_key)
        try:
            allowed = check_project_permission(
                site,
                authenticated.account_id,
                PROJECT_ADMIN_PERMISSION,
                project_key,
                timeout_seconds=_CHECK_TIMEOUT_SECONDS,
            )
        except JiraError as exc:
            raise ApiError(
                502, f"could not ask Jira whether you administer {project_key}: {exc}"
            ) from exc
        if not allowed:
            raise ApiError(
                403,
                f"only Jira administrators and administrators of {project_key} may see which "
                "mail feeds this project",
            ) from refused
        return Caller(tenant=tenant, account_id=authenticated.account_id)
