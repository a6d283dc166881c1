"""Logs are events with ids: `event key=value ...`, never secrets or whole addresses at info."""

from __future__ import annotations

import logging
from typing import Any


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    if not logger.isEnabledFor(level):
        return
    parts = [name, *(f"{key}={_format(value)}" for key, value in fields.items())]
    logger.log(level, " ".join(parts))


def _format(value: Any) -> str:
    text = str(value)
    if not text or any(ch.isspace() for ch in text) or '"' in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def configure(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # Alembic announces each of its plugins at INFO on every start; only its migrations matter.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # flufl.bounce logs a line per detector for every message it scans, and a traceback for a
    # message without From that our classifier already handles: noise in an operator's log.
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
