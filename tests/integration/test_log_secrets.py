"""No log line carries a secret: page tokens, OAuth codes and state, JWTs, shared secrets.

The app is driven through a real uvicorn server with its access log on, every logger captured
at DEBUG, and the captured text searched for the very values that were sent. Then the two ways
the server is started in production (`connector serve`, the Procfile's uvicorn factory) are
run as processes and their output searched the same way.
"""

from __future__ import annotations

import logging
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connector.connect.jwt import encode_token, request_target
from descriptor.render import lifecycle_paths, webhook_paths
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import PASSWORD, AdminApi, make_admin_api, source_body
from tests.integration.conftest import RunningApp, serve_app
from tests.integration.test_cli import ROOT, _env, _free_port

WEBHOOK = webhook_paths()["comment_created"]
ENABLED = lifecycle_paths()["enabled"]
PAGE = "/pages/admin"
# Any compact JWS at all, whichever token it was.
ANY_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def logged_app(
    database_url: str, encryption_key: str, fake_jira: FakeJira, caplog: pytest.LogCaptureFixture
) -> Iterator[RunningApp]:
    """The app with uvicorn's access log on and every record reaching `caplog`."""
    caplog.set_level(logging.DEBUG)
    saved = []
    # "uvicorn" too: uvicorn's default configuration (applied by every other server started in
    # this process) gives it a handler of its own that would stop records short of the root.
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate, logger.handlers[:]))
        logger.setLevel(logging.DEBUG)
        logger.propagate = True
        logger.handlers = []
    try:
        yield from serve_app(database_url, encryption_key, fake_jira, access_log=True)
    finally:
        for logger, level, propagate, handlers in saved:
            logger.setLevel(level)
            logger.propagate = propagate
            logger.handlers = handlers


def _signature(token: str) -> str:
    return token.rsplit(".", 1)[1]


def _captured(caplog: pytest.LogCaptureFixture) -> str:
    messages = [record.getMessage() for record in caplog.records]
    tracebacks = [record.exc_text or "" for record in caplog.records]
    return "\n".join([caplog.text, *messages, *tracebacks])


def test_logs_pages_oauth_lifecycle_webhooks_and_api_leave_no_secret(
    logged_app: RunningApp, fake_jira: FakeJira, caplog: pytest.LogCaptureFixture
) -> None:
    api: AdminApi = make_admin_api(logged_app, fake_jira)
    base = logged_app.base_url
    sent: list[str] = [fake_jira.shared_secret, PASSWORD]

    page_token = encode_token(
        issuer=fake_jira.client_key,
        shared_secret=fake_jira.shared_secret,
        target=request_target("GET", PAGE),
    )
    assert httpx.get(f"{base}{PAGE}?jwt={page_token}", timeout=10).status_code == 200
    forged = page_token[:-4] + ("AAAA" if not page_token.endswith("AAAA") else "BBBB")
    assert httpx.get(f"{base}{PAGE}?jwt={forged}", timeout=10).status_code == 401
    sent += [page_token, _signature(page_token), forged]

    code = f"4/0Adeu5B-{secrets.token_urlsafe(24)}"
    state = f"1.{secrets.token_urlsafe(32)}"
    callback = httpx.get(
        f"{base}/oauth/callback", params={"code": code, "state": state}, timeout=10
    )
    assert callback.status_code == 400
    sent += [code, state]

    enable_token = fake_jira.signed_install_token(base + ENABLED, app_base_url=base)
    assert fake_jira.enable(token=enable_token).status_code == 204
    sent += [enable_token, _signature(enable_token)]

    hook_token = encode_token(
        issuer=fake_jira.client_key,
        shared_secret=fake_jira.shared_secret,
        target=request_target("POST", WEBHOOK),
    )
    wrong = encode_token(
        issuer=fake_jira.client_key, shared_secret="x" * 40, target=request_target("POST", WEBHOOK)
    )
    for token, status in ((hook_token, 204), (wrong, 401)):
        answer = httpx.post(
            base + WEBHOOK,
            headers={"Authorization": f"JWT {token}"},
            json={"webhookEvent": "comment_created", "issue": {"key": "SUP-1"}},
            timeout=10,
        )
        assert answer.status_code == status
    sent += [hook_token, _signature(hook_token), wrong]

    assert api.call("GET", "/mail-sources").status_code == 200
    api.call("POST", "/mail-sources", json=source_body())  # a mailbox password goes in
    sent += [api.token(), _signature(api.token())]

    logged = _captured(caplog)
    # The access log was captured (so its silence about secrets means something)...
    assert f"GET {PAGE}?jwt=[redacted]" in logged
    assert "code=[redacted]" in logged and "state=[redacted]" in logged
    assert f"POST {WEBHOOK}" in logged
    # ...and nothing that was sent as a secret is in any record.
    leaked = [value for value in sent if value in logged]
    assert leaked == []
    assert ANY_JWT.findall(logged) == []


def _procfile_web() -> list[str]:
    """The Procfile's `web` command for a loopback port."""
    line = next(
        entry.split(":", 1)[1].split()
        for entry in (ROOT / "Procfile").read_text().splitlines()
        if entry.startswith("web:")
    )
    assert line[0] == "uvicorn"
    return [sys.executable, "-m", *line]


@pytest.mark.parametrize("way", ["connector-serve", "procfile"])
def test_logs_access_log_of_a_started_server_redacts_tokens(tmp_path: Path, way: str) -> None:
    port = _free_port()
    if way == "procfile":
        command = [
            {"$PORT": str(port), "0.0.0.0": "127.0.0.1"}.get(arg, arg)  # noqa: S104
            for arg in _procfile_web()
        ]
    else:
        command = [sys.executable, "-m", "connector.cli", "serve", "--host", "127.0.0.1"]
    page_token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqaXJhOm5vbmUifQ." + secrets.token_urlsafe(32)
    code, state = secrets.token_urlsafe(16), f"7.{secrets.token_urlsafe(32)}"
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=_env(PORT=str(port), PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert httpx.get(f"{base}{PAGE}?jwt={page_token}", timeout=10).status_code == 401
        callback = httpx.get(
            f"{base}/oauth/callback", params={"code": code, "state": state}, timeout=10
        )
        assert callback.status_code == 400
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert f"GET {PAGE}?jwt=[redacted]" in output, output
    for value in (page_token, _signature(page_token), code, state):
        assert value not in output
