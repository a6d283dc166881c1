"""The Jira site (tenant) the app is installed in, as the rest of the engine sees it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tenant:
    id: int
    client_key: str
    base_url: str
    display_url: str
    product_type: str
    shared_secret: str = field(repr=False)
    installed: bool
    enabled: bool
    # The install's OAuth client id: what the app names itself with when it asks to act as one
    # of the site's users (Connect user impersonation); None for installs that gave none.
    oauth_client_id: str | None = None

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
