"""The Jira site (tenant) the app is installed in, as the rest of the engine sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ForgeAccess:
    """What a Forge installation of the app gives the tenant: where its Jira answers through
    Atlassian's API gateway (`app.apiBaseUrl`) and the app system token Forge last handed over
    (`x-forge-oauth-system`), with the expiry read from it."""

    installation_id: str
    api_base_url: str | None
    system_token: str | None = field(repr=False)
    token_expires_at: datetime | None


# Kinds of site connected without an app install (`connector site add`).
CLOUD_SITE = "cloud"  # Jira Cloud: an account's email and API token, basic auth
DATACENTER_SITE = "datacenter"  # Jira Data Center: a personal access token, bearer
SITE_KINDS = (CLOUD_SITE, DATACENTER_SITE)
# Every `Tenant.kind`: installed as a Connect or a Forge app, or one of the sites above.
TENANT_KINDS = ("connect", "forge", *SITE_KINDS)


@dataclass(frozen=True)
class SiteAccess:
    """How a site connected without an install is reached: its kind, the account the token
    belongs to (the "service account" everything is done as) and the token."""

    kind: str
    email: str | None
    # None once the site was removed (`connector site remove` forgets the token).
    token: str | None = field(repr=False)
    account_id: str | None


@dataclass(frozen=True)
class Tenant:
    id: int
    client_key: str
    base_url: str
    display_url: str
    product_type: str
    # None for a tenant installed only through Forge: it has no Connect shared secret, so no
    # Connect JWT can name it; it reaches Jira with `forge`'s system token instead.
    shared_secret: str | None = field(repr=False)
    installed: bool
    enabled: bool
    # The install's OAuth client id: what the app names itself with when it asks to act as one
    # of the site's users (Connect user impersonation); None for installs that gave none.
    oauth_client_id: str | None = None
    forge: ForgeAccess | None = None
    # A site connected without an install; None for Connect and Forge installs.
    site: SiteAccess | None = None

    @property
    def kind(self) -> str:
        """connect, forge, cloud (API token) or datacenter (personal access token)."""
        if self.site is not None:
            return self.site.kind
        return "connect" if self.shared_secret is not None else "forge"

    @property
    def active(self) -> bool:
        """Installed and enabled: the only state in which we act for the site."""
        return self.installed and self.enabled


@dataclass(frozen=True)
class InstallPayload:
    """The body of Connect's `installed` lifecycle callback, checked for shape."""

    key: str
    client_key: str
    shared_secret: str = field(repr=False)
    base_url: str
    display_url: str
    product_type: str
    description: str
    server_version: str
    plugins_version: str
    oauth_client_id: str | None = None
    # The Forge installation (ARI) of a Connect-on-Forge app; None for a plain Connect install.
    installation_id: str | None = None
