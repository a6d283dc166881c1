"""Request bodies are bounded before they are read, on every route that takes one.

Through the real server on loopback: a request without a valid token is answered while most of
its body is still unsent (so the server neither read nor parsed it); a signed one over its
route's cap gets 413 whether it says its length or streams chunks; deeply nested JSON gets a
400 with a JSON error, never a 500 with a RecursionError.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import httpx
import pytest

from connector.connect.jwt import encode_token, request_target
from connector.http_body import (
    ADMIN_MAX_BYTES,
    LIFECYCLE_MAX_BYTES,
    MAX_JSON_DEPTH,
    WEBHOOK_MAX_BYTES,
)
from descriptor.render import lifecycle_paths, webhook_paths
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import AdminApi, make_admin_api
from tests.integration.conftest import serve_app
from tests.integration.partial_http import send_partial

LIFECYCLE = lifecycle_paths()["installed"]
WEBHOOK = webhook_paths()["comment_created"]
ADMIN = "/api/v1/mail-sources"
# What the no-token requests announce: the body that stalled the server for 8.6 s on main.
HUGE = 72 * 1024 * 1024
FAMILIES = {"lifecycle": LIFECYCLE, "webhook": WEBHOOK, "admin": ADMIN}
CAPS = {"lifecycle": LIFECYCLE_MAX_BYTES, "webhook": WEBHOOK_MAX_BYTES, "admin": ADMIN_MAX_BYTES}


@pytest.fixture
def api(sqlite_url: str, encryption_key: str, fake_jira: FakeJira) -> Iterator[AdminApi]:
    """The app (on SQLite: nothing here depends on the backend), installed, with an admin."""
    with contextlib.closing(serve_app(sqlite_url, encryption_key, fake_jira)) as serving:
        yield make_admin_api(next(serving), fake_jira)


def _signed(api: AdminApi, family: str) -> dict[str, str]:
    """The Authorization header Jira (or the admin page) would send to this route."""
    path = FAMILIES[family]
    if family == "lifecycle":
        token = api.jira.signed_install_token(
            api.app.base_url + path, app_base_url=api.app.base_url
        )
    elif family == "webhook":
        token = encode_token(
            issuer=api.jira.client_key,
            shared_secret=api.jira.shared_secret,
            target=request_target("POST", path),
        )
    else:
        token = api.token()
    return {"Authorization": f"JWT {token}", "Content-Type": "application/json"}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", LIFECYCLE, 401),
        ("POST", WEBHOOK, 401),
        ("POST", ADMIN, 401),
        ("PUT", ADMIN + "/1", 401),
        # No token on these: the OAuth callback's key is its `state`, a page's its `?jwt=`.
        ("GET", "/oauth/callback?code=4/0AbC&state=1.unknown", 400),
        ("GET", "/pages/admin", 401),
    ],
    ids=["lifecycle", "webhook", "admin-post", "admin-put", "oauth-callback", "page"],
)
def test_request_bodies_unauthenticated_huge_body_is_refused_before_it_is_read(
    api: AdminApi, method: str, path: str, status: int, chunked: bool
) -> None:
    answer = send_partial(
        api.app.base_url,
        method,
        path,
        start=b"[" * 65536,
        declared_length=None if chunked else HUGE,
    )
    assert answer.status == status


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_request_bodies_signed_over_cap_is_413_without_waiting_for_the_rest(
    api: AdminApi, family: str, chunked: bool
) -> None:
    # With a length over the cap nothing is read; sent chunked, without a length, the server
    # counts and stops past the cap. Either way the body is never finished, so an answer at all
    # shows the server did not wait for the rest.
    cap = CAPS[family]
    answer = send_partial(
        api.app.base_url,
        "POST",
        FAMILIES[family],
        start=b" " * (cap + 65536) if chunked else b"{" * 1024,
        declared_length=None if chunked else cap + 1,
        headers=_signed(api, family),
    )
    assert answer.status == 413
    assert f"over {cap} bytes" in answer.json()["error"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_request_bodies_deep_nesting_is_400_json_without_traceback(
    api: AdminApi, family: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    depth = min(100_000, CAPS[family] - 1)
    response = httpx.post(
        api.app.base_url + FAMILIES[family],
        content=b"[" * depth,
        headers=_signed(api, family),
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert f"deeper than {MAX_JSON_DEPTH} levels" in response.json()["error"]
    assert "RecursionError" not in caplog.text and "Traceback" not in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_request_bodies_not_json_is_400_json(api: AdminApi, family: str) -> None:
    response = httpx.post(
        api.app.base_url + FAMILIES[family],
        content=b'{"clientKey": ',
        headers=_signed(api, family),
        timeout=30,
    )
    assert response.status_code == 400
    assert "not JSON" in response.json()["error"]


def test_request_bodies_nesting_at_the_limit_reaches_the_handler(api: AdminApi) -> None:
    nested = "[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2)
    response = api.call("POST", "/mail-sources", content=f'{{"name": {nested}}}'.encode())
    # Past the body reader: the handler's own validation answers about the field.
    assert response.status_code == 400
    assert response.json()["field"] == "name"


def test_request_bodies_large_real_webhook_is_accepted(api: AdminApi) -> None:
    # A description edit of a long text: Jira sends the fields and the changelog's old
    # and new text, each up to 32,767 characters (here 3-byte characters: ~100 KB apiece).
    long_text = "説明" * 16_000
    payload = {
        "issue": {"key": "SUP-1", "fields": {"description": long_text, "summary": "s"}},
        "changelog": {
            "id": "10001",
            "items": [{"field": "description", "fromString": long_text, "toString": long_text}],
        },
    }
    assert api.jira.send_webhook("comment_created", payload).status_code == 204
    assert api.app.jira_events[-1][2]["issue"]["key"] == "SUP-1"
