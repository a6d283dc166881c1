"""`JiraReader` over the Jira REST client, as the app (not as any user)."""

from __future__ import annotations

from typing import Any

from connector.jira.auth import tenant_site
from connector.jira.client import JiraClient
from connector.jira.limiter import SiteLimiter
from connector.jira.limits import Priority
from connector.jira.session import SiteSessions
from connector.tenant import Tenant


class AppJiraReader:
    def __init__(self, client: JiraClient) -> None:
        self._client = client
        self._app_id: str | None = None
        self._asked = False

    @classmethod
    def for_tenant(
        cls,
        tenant: Tenant,
        *,
        app_key: str,
        limiter: SiteLimiter | None = None,
        sessions: SiteSessions | None = None,
    ) -> AppJiraReader:
        """Notifications are low priority: they yield to new customer mail when Jira says
        the budget runs low (`connector.jira.limiter`). With `sessions`, the site's shared
        session (and its limiter) is used."""
        site = tenant_site(tenant, app_key=app_key)
        session = sessions.for_site(site.base_url) if sessions else None
        return cls(JiraClient(site, limiter=limiter, session=session, priority=Priority.LOW))

    def get_comment(self, issue_key: str, comment_id: str) -> dict[str, Any]:
        return self._client.get_comment(issue_key, comment_id)

    def app_account_id(self) -> str | None:
        """The app's own account (Jira answers `myself` for the app's bot user, or for the
        account a site's token belongs to), asked once; None when Jira would not say, and the
        comment property check still applies. On Data Center, the username (`name`), as
        webhook facts name authors there (`connector.outbound.intake`)."""
        if not self._asked:
            self._asked = True
            try:
                me = self._client.myself()
                found = me.get("accountId") or me.get("name")
            except Exception:  # any failure only loses this shortcut
                found = None
            self._app_id = str(found) if found else None
        return self._app_id
