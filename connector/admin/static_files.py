"""The pages' own CSS and scripts, served from `connector/admin/static/` without a build step.

One route per file found at start-up, so a request can only ever name a file that ships with
the app (no path from the URL reaches the filesystem).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

STATIC_DIR = Path(__file__).with_name("static")
STATIC_PREFIX = "/static/"
_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


def static_routes() -> list[Route]:
    routes = []
    for file in sorted(STATIC_DIR.iterdir()):
        if file.is_file() and file.suffix in _TYPES:
            routes.append(Route(STATIC_PREFIX + file.name, _serve(file), methods=["GET"]))
    return routes


def _serve(file: Path) -> Callable[[Request], Awaitable[Response]]:
    media_type = _TYPES[file.suffix]

    async def serve(_request: Request) -> Response:
        # Short caching: a new release must reach admins without a hard reload.
        return FileResponse(
            file,
            media_type=f"{media_type}; charset=utf-8" if media_type != "image/svg+xml" else None,
            headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    return serve
