"""`connector site add`'s check of a site's credentials, before anything is stored.

Three questions, each failure with its own message: who am I (`myself`: the credentials work,
and whose they are), what is this server (`serverInfo`: Cloud or Data Center, so a token of
the wrong kind is named as such) and what may the account do (`mypermissions`: browse
projects, create issues, add comments; everything the connector does is done as it).
Jira Cloud answers on REST v3, Data Center on v2: both have these three resources. A Data
Center server must also run a supported version (`connector.jira.datacenter.server_problem`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connector.jira.auth import site_access_site
from connector.jira.datacenter import server_problem
from connector.tenant import CLOUD_SITE, SiteAccess

CHECK_TIMEOUT_SECONDS = 15.0
# What the connector does as the site's account: find issues, make them, comment on them.
REQUIRED_PERMISSIONS = ("BROWSE_PROJECTS", "CREATE_ISSUES", "ADD_COMMENTS")
_CLOUD_DEPLOYMENT = "Cloud"


class SiteCheckError(Exception):
    """The site or its credentials will not do; the message says why and what to do."""


@dataclass(frozen=True)
class CheckedSite:
    access: SiteAccess  # with the account id Jira named
    account_name: str
    server_title: str
    server_version: str
    deployment: str


def check_site(
    url: str,
    access: SiteAccess,
    *,
    token_source: str,
    transport: httpx.BaseTransport | None = None,
) -> CheckedSite:
    """Ask the site; raises `SiteCheckError`. `token_source` names where the token came from
    (the environment variable), for the messages."""
    version = "3" if access.kind == CLOUD_SITE else "2"
    site = site_access_site(url, access)
    with httpx.Client(auth=site.auth, timeout=CHECK_TIMEOUT_SECONDS, transport=transport) as client:
        asker = _Asker(client, f"{url}/rest/api/{version}", url, token_source, access)
        # Asked first and without the token (both Cloud and Data Center answer it anonymously,
        # unless a server forbids that), so a token of the wrong kind is named as such rather
        # than as a refused one.
        try:
            server = asker.get("serverInfo", "what the server is", anonymous=True)
        except SiteCheckError:
            if access.kind != CLOUD_SITE and _is_cloud(client, url):
                _check_deployment(url, access.kind, _CLOUD_DEPLOYMENT)
            raise
        _check_deployment(url, access.kind, str(server.get("deploymentType") or ""))
        if access.kind != CLOUD_SITE:
            problem = server_problem(server)
            if problem is not None:
                raise SiteCheckError(f"{url}: {problem}")
        me = asker.get("myself", "who the account is")
        granted = asker.get(
            "mypermissions",
            "what the account may do",
            params={"permissions": ",".join(REQUIRED_PERMISSIONS)},
        )
    missing = [key for key in REQUIRED_PERMISSIONS if not _has(granted, key)]
    if missing:
        raise SiteCheckError(
            f"the account may not {', '.join(_WORDS[key] for key in missing)} on {url} "
            f"(missing: {', '.join(missing)}); grant it these permissions in the projects "
            "whose mail it will handle, then add the site again"
        )
    # Cloud names users by accountId; Data Center by key (and name).
    account_id = str(me.get("accountId") or me.get("key") or me.get("name") or "")
    if not account_id:
        raise SiteCheckError(f"{url} did not say whose the credentials are (no account id)")
    return CheckedSite(
        access=SiteAccess(
            kind=access.kind, email=access.email, token=access.token, account_id=account_id
        ),
        account_name=str(me.get("displayName") or account_id),
        server_title=str(server.get("serverTitle") or ""),
        server_version=str(server.get("version") or ""),
        deployment=str(server.get("deploymentType") or ""),
    )


_WORDS = {
    "BROWSE_PROJECTS": "browse projects",
    "CREATE_ISSUES": "create issues",
    "ADD_COMMENTS": "add comments",
}


@dataclass(frozen=True)
class _Asker:
    client: httpx.Client
    api: str
    url: str
    token_source: str
    access: SiteAccess

    def get(
        self,
        resource: str,
        what: str,
        params: Mapping[str, str] | None = None,
        *,
        anonymous: bool = False,
    ) -> dict[str, Any]:
        target = f"{self.api}/{resource}"
        try:
            if anonymous:
                response = self.client.get(target, params=params, auth=None)
                if response.status_code in (401, 403):  # a server that wants a sign-in
                    response = self.client.get(target, params=params)
            else:
                response = self.client.get(target, params=params)
        except httpx.TimeoutException:
            raise SiteCheckError(
                f"{self.url} did not answer within {CHECK_TIMEOUT_SECONDS:.0f} seconds"
            ) from None
        except httpx.HTTPError as exc:
            raise SiteCheckError(f"cannot reach {self.url}: {exc}") from None
        if response.status_code == 401:
            raise SiteCheckError(self._refused())
        if response.status_code == 403:
            raise SiteCheckError(
                f"{self.url} refused to say {what} (403): the account may not use the REST "
                "API (deactivated, or locked behind a CAPTCHA after failed sign-ins)"
            )
        if response.status_code == 404:
            raise SiteCheckError(
                f"{self.url} has no {self.api[len(self.url) :]}/{resource}: is it the address "
                "of a Jira site (with its context path, if any)?"
            )
        if not response.is_success:
            raise SiteCheckError(
                f"{self.url} answered {response.status_code} when asked {what}; try again later"
            )
        try:
            found = response.json()
        except ValueError:
            found = None
        if not isinstance(found, dict):
            raise SiteCheckError(f"{self.url} did not answer as Jira does when asked {what}")
        return found

    def _refused(self) -> str:
        if self.access.kind == CLOUD_SITE:
            return (
                f"{self.url} refused the email {self.access.email} with the API token in "
                f"{self.token_source} (401): check both; an API token is made at "
                "id.atlassian.com, Security, API tokens, by the account it belongs to"
            )
        return (
            f"{self.url} refused the personal access token in {self.token_source} (401): it "
            "may have expired or been revoked, or personal access tokens may be turned off"
        )


def _check_deployment(url: str, kind: str, deployment: str) -> None:
    cloud = deployment == _CLOUD_DEPLOYMENT
    if kind == CLOUD_SITE and deployment and not cloud:
        raise SiteCheckError(
            f"{url} is Jira {deployment}, not Jira Cloud: connect it with --pat-env "
            "(a personal access token)"
        )
    if kind != CLOUD_SITE and cloud:
        raise SiteCheckError(
            f"{url} is Jira Cloud, which has no personal access tokens: connect it with "
            "--email and --token-env (an API token)"
        )


def _is_cloud(client: httpx.Client, url: str) -> bool:
    """Whether the site answers REST v3 as Jira Cloud (Data Center has no v3)."""
    try:
        response = client.get(f"{url}/rest/api/3/serverInfo", auth=None)
        found = response.json() if response.is_success else None
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(found, dict) and found.get("deploymentType") == _CLOUD_DEPLOYMENT


def _has(granted: Mapping[str, Any], key: str) -> bool:
    permissions = granted.get("permissions")
    entry = permissions.get(key) if isinstance(permissions, Mapping) else None
    return isinstance(entry, Mapping) and entry.get("havePermission") is True
