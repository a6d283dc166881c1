"""Save-time check of a host a tenant names (mail source, SMTP): may the app connect there?

The same check runs again at every connection (`connector.net`), since a name can change its
address after it was saved; refusing here tells the admin at once, beside the field.
"""

from __future__ import annotations

import socket

from connector.admin.errors import ApiError
from connector.net.hosts import HostPolicy, HostRefused


def refuse_unusable_host(policy: HostPolicy, host: str, port: int, *, field: str) -> None:
    """Raise `ApiError` 400 naming `field` when `host` does not resolve or may not be used."""
    try:
        policy.addresses(host, port)
    except HostRefused as exc:
        raise ApiError(400, f"{field}: {exc}", field=field) from None
    except socket.gaierror as exc:
        raise ApiError(
            400,
            f"{field}: {host} does not resolve ({exc.strerror or 'no address'}); check the "
            "server name",
            field=field,
        ) from None
