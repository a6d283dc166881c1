"""create_app(settings) -> Starlette: routes, and a lifespan that migrates the database."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector import logs
from connector.admin.api import api_routes, http_error
from connector.admin.pages import page
from connector.admin.poll_start import PollInBackground, PollStarter, RequestForWorker
from connector.admin.site_session import signin_routes
from connector.admin.static_files import static_routes
from connector.docs_page import docs
from connector.engine import WorkEngine, work_engine
from connector.runtime import Runtime
from connector.settings import Settings
from connector.storage.db import migrate
from descriptor.render import lifecycle_paths, page_paths, render_descriptor, webhook_paths
from webhooks.events import JiraEventHandler, log_event_handler, webhook_endpoint
from webhooks.forge import forge_routes
from webhooks.graph import graph_routes
from webhooks.lifecycle import lifecycle_endpoint

log = logging.getLogger(__name__)


async def descriptor(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    return JSONResponse(render_descriptor(base_url=settings.base_url, app_key=settings.app_key))


async def healthz(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    if runtime.database_answers():
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "database unavailable"}, status_code=503)


def build_routes() -> list[Route]:
    routes = [
        Route("/atlassian-connect.json", descriptor, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        # The descriptor's links.documentation: the README, public like the descriptor.
        Route("/docs", docs, methods=["GET"]),
        *api_routes(),
    ]
    routes += [
        Route(path, lifecycle_endpoint(event), methods=["POST"])
        for event, path in lifecycle_paths().items()
    ]
    routes += [
        Route(path, webhook_endpoint(event), methods=["POST"])
        for event, path in webhook_paths().items()
    ]
    routes += [Route(path, page, methods=["GET"]) for path in page_paths()]
    routes += static_routes()
    routes += forge_routes()
    routes += graph_routes()
    routes += signin_routes()
    return routes


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    migrate_on_start: bool = True,
    run_worker: bool = False,
    polls_in_process: bool | None = None,
    jira_event_handler: JiraEventHandler = log_event_handler,
) -> Starlette:
    """The web app; with `run_worker` the poller runs in the same process (`connector serve`),
    without it a separate `connector worker` process polls (the Procfile's split).
    `polls_in_process` (default: as `run_worker`) runs the admins' "Poll now" on threads here
    rather than leaving it to a worker (connector.admin.poll_start)."""
    runtime = runtime or Runtime.create(settings)
    # Whatever starts the server, its access log must not print page tokens or OAuth codes.
    logs.install_redaction()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if migrate_on_start:
            migrate(runtime.engine)
        logs.event(
            log,
            "app.started",
            descriptor_url=f"{settings.base_url}/atlassian-connect.json",
        )
        scheduler = work_engine(runtime, push=True) if run_worker else None
        thread = None
        # A Graph notification handled here wakes the worker at once (`webhooks.graph`).
        _app.state.scheduler = scheduler
        if scheduler is not None:
            thread = threading.Thread(target=scheduler.run_forever, name="scheduler", daemon=True)
            thread.start()
        try:
            yield
        finally:
            if scheduler is not None and thread is not None:
                scheduler.stop()
                thread.join(timeout=30)
            polls.shutdown()

    app = Starlette(
        routes=build_routes(), lifespan=lifespan, exception_handlers={HTTPException: http_error}
    )
    app.state.runtime = runtime
    in_process = run_worker if polls_in_process is None else polls_in_process

    def mail_queued() -> None:  # a poll here queued mail: this process's engine sends it now
        engine: WorkEngine | None = getattr(app.state, "scheduler", None)
        if engine is not None:
            engine.mail_queued()

    polls: PollStarter = (
        PollInBackground(mail_queued=mail_queued) if in_process else RequestForWorker()
    )
    app.state.polls = polls
    app.state.jira_event_handler = jira_event_handler
    return app
