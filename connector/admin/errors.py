"""What the admin API refuses, and how it says so: `{"error": "...", "field": <name or null>}`.

`field` names the input as the API spells it (the same names `SourceConfigError` uses), so a
page can show the message beside the input that caused it. Extra keys carry what a client
needs to act on the refusal (e.g. the backlog estimate of a 409).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from connector.sources.errors import SourceConfigError


class ApiError(Exception):
    """A refusal whose message is safe to show the caller: never a secret or a token."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = dict(extra or {})

    @classmethod
    def invalid(cls, exc: SourceConfigError) -> ApiError:
        return cls(400, str(exc), field=exc.field)

    def to_response(self) -> JSONResponse:
        body = {"error": self.message, "field": self.field, **self.extra}
        return JSONResponse(body, status_code=self.status)


def not_found(kind: str, item_id: int) -> ApiError:
    """The same answer for "absent" and "another tenant's": existence is never revealed."""
    return ApiError(404, f"no {kind} with id {item_id}")
