"""One HTTP session per Jira site, shared by clients with different credentials."""

from __future__ import annotations

import httpx
import respx

from connector.jira.auth import JiraSite, api_token_site, connect_site
from connector.jira.client import JiraClient
from connector.jira.session import SiteSessions

SITE = "https://site.atlassian.net"


def test_one_session_per_site_origin() -> None:
    sessions = SiteSessions()
    try:
        first = sessions.for_site(SITE)
        assert sessions.for_site(f"{SITE}/") is first
        assert sessions.for_site("https://SITE.atlassian.net:443/wiki") is first
        assert sessions.for_site("https://other.atlassian.net") is not first
    finally:
        sessions.close()


@respx.mock
def test_clients_sharing_a_session_each_send_their_own_credentials() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization", ""))
        return httpx.Response(200, json={"accountId": "a"})

    respx.get(f"{SITE}/rest/api/3/myself").mock(side_effect=answer)
    sessions = SiteSessions()
    try:
        app: JiraSite = connect_site(SITE, app_key="mail-connector", shared_secret="s" * 40)
        user = api_token_site(SITE, email="agent@example.com", api_token="token")
        app_client = JiraClient(app, session=sessions.for_site(SITE))
        user_client = JiraClient(user, session=sessions.for_site(SITE))
        app_client.myself()
        user_client.myself()
        app_client.myself()
    finally:
        sessions.close()
    assert [header.split(" ", 1)[0] for header in seen] == ["JWT", "Basic", "JWT"]
