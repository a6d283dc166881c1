"""Install payloads for tests that store a tenant directly, without the lifecycle call."""

from __future__ import annotations

from connector.tenant import InstallPayload

SHARED_SECRET = "shared-secret-" + "x" * 40


def install_payload(
    client_key: str,
    *,
    shared_secret: str = SHARED_SECRET,
    oauth_client_id: str | None = None,
) -> InstallPayload:
    """What Jira would send for `jira:<site>`: the site at `https://<site>.atlassian.net`."""
    site = f"https://{client_key.rpartition(':')[2]}.atlassian.net"
    return InstallPayload(
        key="mail-connector",
        client_key=client_key,
        shared_secret=shared_secret,
        base_url=site,
        display_url=site,
        product_type="jira",
        description="Jira",
        server_version="100",
        plugins_version="1.0",
        oauth_client_id=oauth_client_id,
    )
