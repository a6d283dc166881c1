"""The app running on loopback, with a fake Jira site beside it."""

from __future__ import annotations

import socket
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from connector.app import create_app
from connector.budget import Budget
from connector.outbound.rendering import TEMPLATE_BUDGET
from connector.runtime import Runtime
from connector.storage.db import make_engine, migrate
from tests import dkim_keys
from tests.conftest import make_settings
from tests.fakes.datacenter import FakeJiraDataCenter
from tests.fakes.forge import APP_ID, FakeForge
from tests.fakes.jira import FakeJira
from tests.fakes.network import FakeNetwork
from tests.fakes.server import LoopbackServer

if TYPE_CHECKING:
    from tests.integration.admin_support import AdminApi


@dataclass
class RunningApp:
    base_url: str
    runtime: Runtime
    # Answers the app's host lookups; the app connects to loopback only (tests.fakes.network).
    network: FakeNetwork
    jira_events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    # The app's state (Starlette's `app.state`): a test gives it an engine, as `connector
    # serve` does, to see what the app tells the worker in its process.
    state: Any = None


@pytest.fixture
def fake_jira() -> Iterator[FakeJira]:
    with FakeJira(app_key="mail-connector") as fake:
        yield fake


@pytest.fixture
def fake_datacenter() -> Iterator[FakeJiraDataCenter]:
    """A Jira Data Center server (REST v2, personal access tokens) with project SUP."""
    with FakeJiraDataCenter(projects={"SUP": "Support"}) as fake:
        yield fake


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    with FakeForge() as fake:
        yield fake


@pytest.fixture
def forge_app(
    database_url: str, encryption_key: str, fake_jira: FakeJira, forge: FakeForge
) -> Iterator[RunningApp]:
    """The app with FORGE_APP_ID set, trusting the fake Forge's keys."""
    env = {"FORGE_APP_ID": APP_ID, "FORGE_JWKS_URL": forge.jwks_url}
    yield from serve_app(database_url, encryption_key, fake_jira, env=env)


@pytest.fixture
def template_budget() -> Budget:
    """The budget tenants' templates render within; a module testing runaway templates
    overrides this with a short one, so it need not wait the real budget for each."""
    return TEMPLATE_BUDGET


@pytest.fixture
def running_app(
    database_url: str, encryption_key: str, fake_jira: FakeJira, template_budget: Budget
) -> Iterator[RunningApp]:
    yield from serve_app(database_url, encryption_key, fake_jira, template_budget=template_budget)


def serve_app(
    database_url: str,
    encryption_key: str,
    fake_jira: FakeJira,
    *,
    template_budget: Budget = TEMPLATE_BUDGET,
    access_log: bool = False,
    env: Mapping[str, str] | None = None,
) -> Generator[RunningApp, None, None]:
    """The app on a loopback port beside `fake_jira`, until the generator is closed."""
    # The app's BASE_URL must be known before it is built (it is the JWT audience), so the
    # port is bound first and the server handed the bound socket.
    # IPPROTO_TCP so asyncio sets TCP_NODELAY (see tests/fakes/server.py).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(
        base_url=base_url,
        database_url=database_url,
        encryption_key=encryption_key,
        keys_url=fake_jira.install_keys_url,
        env=env,
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    # The fake's authorization server stands in for Atlassian's (user impersonation).
    network = FakeNetwork()
    runtime = Runtime.create(
        settings,
        engine=engine,
        authorization_server_url=fake_jira.authorization_server_url,
        network=network,
        template_budget=template_budget,
        key_lookup=dkim_keys.lookup,  # keys made by the tests: no DNS
    )
    running = RunningApp(base_url=base_url, runtime=runtime, network=network)
    app = create_app(
        settings,
        runtime=runtime,
        migrate_on_start=False,
        # As `connector serve`: "Poll now" runs on a thread of the app (no worker here).
        polls_in_process=True,
        jira_event_handler=lambda client_key, event, payload: running.jira_events.append(
            (client_key, event, payload)
        ),
    )
    running.state = app.state
    server = LoopbackServer(app, name="connector-app", sock=sock, access_log=access_log)
    server.start()
    try:
        yield running
    finally:
        server.stop()
        engine.dispose()


@pytest.fixture
def api(running_app: RunningApp, fake_jira: FakeJira) -> AdminApi:
    """An administrator of the fake Jira site calling the running app's admin API."""
    from tests.integration.admin_support import make_admin_api  # it imports this module

    return make_admin_api(running_app, fake_jira)
