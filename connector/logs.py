"""Logs are events with ids: `event key=value ...`, never secrets or whole addresses at info.

Secrets are kept out twice: our own events never name them, and `redact` blanks what looks
like one anyway (query values such as `?jwt=` page tokens and the OAuth callback's `code` and
`state`, JWTs, `Authorization` credentials). `install_redaction` puts that on uvicorn's access
log, which would otherwise print every request URL whole, on the HTTP clients' request logs, and
on the root handlers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

REDACTED = "[redacted]"

# Query parameters whose values are credentials, compared lower-case after percent-decoding
# (Starlette decodes names, so `%6Awt=` is still the page token): Connect page tokens (`jwt`,
# developer.atlassian.com/cloud/jira/platform/understanding-jwt-for-connect-apps/), the OAuth
# authorization response (`code`, `state`, RFC 6749 §4.1.2) and the usual token and password
# names.
SECRET_PARAMETERS = frozenset(
    {
        "jwt",
        "code",
        "state",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "shared_secret",
        "sharedsecret",
        "secret",
        "password",
        "passwd",
        "api_token",
        "api_key",
        "apikey",
        "assertion",
        "client_assertion",
        "session_state",
    }
)
# A parameter: it starts after `?`, `&` or `;` only, so each is tried once (linear).
_PARAMETER = re.compile(r"(?<=[?&;])([^=&;#\s\"']++)=([^&;#\s\"']*+)")
# A compact JWS (RFC 7515 §7.1), starting at a word start: its header is base64url JSON, `eyJ`.
_JWT = re.compile(r"(?<![\w-])eyJ[\w-]*+\.[\w-]*+\.[\w-]*+")
# Credentials after an HTTP authentication scheme (RFC 9110 §11.4); short words are prose.
_CREDENTIALS = re.compile(r"(?i)\b(JWT|Bearer|Basic)\s++[\w.~+/=-]{16,}+")


def redact(text: str) -> str:
    """`text` with secret query values, JWTs and scheme credentials replaced by `[redacted]`."""

    def parameter(match: re.Match[str]) -> str:
        if unquote_plus(match[1]).strip().lower() in SECRET_PARAMETERS and match[2]:
            return f"{match[1]}={REDACTED}"
        return match[0]

    if "=" in text:
        text = _PARAMETER.sub(parameter, text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    return _CREDENTIALS.sub(lambda m: f"{m[1]} {REDACTED}", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message, arguments and traceback text through `redact`.

    Arguments are redacted one by one first, keeping their positions and types, so formatters
    that read them (uvicorn's access formatter unpacks `record.args`) keep working; only when a
    secret still shows in the merged message (a template such as `?code=%s`) is the record
    reduced to its redacted text.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_argument(value) for value in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _redact_argument(value) for key, value in record.args.items()}
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            message = None  # a malformed call elsewhere; logging reports it as it would
        if message is not None:
            redacted = redact(message)
            if redacted != message:
                record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
        return True


def _redact_argument(value: Any) -> Any:
    if value is None or isinstance(value, int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    redacted = redact(text)
    return value if redacted == text else redacted


_REDACTION = RedactSecrets()
# Loggers that print request URLs: uvicorn's request line ("uvicorn.access") and failures
# ("uvicorn.error"), and the HTTP clients' request lines (httpx at INFO; urllib3, under any
# library that brings requests, at DEBUG). A filter on a logger sees the records made on it,
# whatever handlers the server configured.
_URL_LOGGERS = (
    "uvicorn.access",
    "uvicorn.error",
    "httpx",
    "urllib3.connectionpool",
)


def install_redaction(*, root_handlers: bool = False) -> None:
    """Redact the loggers that print URLs (and, with `root_handlers`, everything the root
    handlers write).

    Idempotent: the server start (`connector serve`, the Procfile's factory) and `create_app`
    may both call it.
    """
    loggers = [logging.getLogger(name) for name in _URL_LOGGERS]
    filterers: list[logging.Filterer] = [*loggers]
    if root_handlers:
        filterers += logging.getLogger().handlers
    for filterer in filterers:
        if _REDACTION not in filterer.filters:
            filterer.addFilter(_REDACTION)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    if not logger.isEnabledFor(level):
        return
    parts = [name, *(f"{key}={_format(value)}" for key, value in fields.items())]
    logger.log(level, redact(" ".join(parts)))


def _format(value: Any) -> str:
    text = str(value)
    if not text or any(ch.isspace() for ch in text) or '"' in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def configure(level: str = "INFO") -> None:
    """Root logging at `level` (LOG_LEVEL or `--log-level`); ValueError names LOG_LEVEL."""
    if level.strip().upper() not in LOG_LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    logging.basicConfig(
        level=level.strip().upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    install_redaction(root_handlers=True)
    # Alembic announces each of its plugins at INFO on every start; only its migrations matter.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # flufl.bounce logs a line per detector for every message it scans, and a traceback for a
    # message without From that our classifier already handles: noise in an operator's log.
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
