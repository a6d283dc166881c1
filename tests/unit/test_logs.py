"""Secrets are blanked in log lines: query values, JWTs, credentials (connector/logs.py)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import pytest
from uvicorn.logging import AccessFormatter

from connector import logs
from connector.logs import REDACTED, RedactSecrets, install_redaction, redact
from tests.timing import growth_ratio

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqaXJhOjEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        (f"GET /pages/admin?lic=none&jwt={JWT}&cp=x", "lic=none&jwt=[redacted]&cp=x", JWT),
        ("/oauth/callback?code=4/0AbC-d&state=12.xyz", "code=[redacted]&state=[redacted]", "xyz"),
        ("/cb?%63ode=zz9&STATE=yy8&session_state=ss7", "%63ode=[redacted]", "zz9"),
        ("/cb?access_token=at1&refresh_token=rt2", "refresh_token=[redacted]", "rt2"),
        ("/x?client_secret=cs3;password=pw4", "password=[redacted]", "cs3"),
        (f"token seen: {JWT}.", f"token seen: {REDACTED}.", JWT),
        ("Authorization: Bearer ya29.a0AfH6SMBx-long-token", f"Bearer {REDACTED}", "ya29"),
        (f"Authorization: JWT {JWT}", f"JWT {REDACTED}", "c2lnbmF0dXJl"),
    ],
    ids=["page-jwt", "oauth", "encoded-names", "tokens", "secrets", "bare-jwt", "bearer", "jwt"],
)
def test_redact_secret_values_are_replaced(line: str, kept: str, gone: str) -> None:
    redacted = redact(line)
    assert kept in redacted
    assert gone not in redacted


@pytest.mark.parametrize(
    "line",
    [
        "no JWT in the Authorization header or the jwt parameter",
        "Authorization must be 'JWT <token>'",
        "admin.page_refused path=/pages/admin status_code=401 state=ok code=5",
        "GET /api/v1/email-log?source_id=3&outcome=failed&q=state",
        "/oauth/callback?code=&state=",
    ],
)
def test_redact_text_without_secrets_is_unchanged(line: str) -> None:
    assert redact(line) == line


def test_redact_secrets_filter_keeps_uvicorn_access_arguments_usable() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/pages/admin?jwt={JWT}", "1.1", 200),
        None,
    )
    assert RedactSecrets().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(record)
    assert line == '127.0.0.1:5000 - "GET /pages/admin?jwt=[redacted] HTTP/1.1" 200 OK'


def test_redact_secrets_filter_redacts_traceback_text() -> None:
    try:
        raise ValueError(f"could not fetch https://example.com/cb?code=s3cr3t&jwt={JWT}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    RedactSecrets().filter(record)
    assert record.exc_text is not None and "ValueError" in record.exc_text
    assert "s3cr3t" not in record.exc_text and JWT not in record.exc_text


def test_event_redacts_a_value_that_carries_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logs.event(logging.getLogger("connector.test"), "x.seen", url=f"/pages/admin?jwt={JWT}")
    assert caplog.messages == ["x.seen url=/pages/admin?jwt=[redacted]"]


@contextlib.contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without pytest's capture handlers (which pytest adds when the test body
    starts), restored afterwards, so no filter of ours stays on them."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers = []
    try:
        yield root
    finally:
        root.handlers = saved
        root.setLevel(level)


def test_configure_puts_redaction_on_root_handlers_and_url_loggers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with bare_root() as root:
        logs.configure("INFO")
        logs.configure("INFO")
        assert [h.filters.count(logs._REDACTION) for h in root.handlers] == [1]
        assert logging.getLogger("uvicorn.access").filters.count(logs._REDACTION) == 1
        logging.getLogger("some.library").warning("fetched https://h/cb?code=%s", "zz-code-9")
    err = capsys.readouterr().err
    assert "code=[redacted]" in err and "zz-code-9" not in err


def test_install_redaction_is_idempotent() -> None:
    install_redaction()
    install_redaction()
    for name in ("uvicorn.access", "uvicorn.error", "httpx"):
        assert logging.getLogger(name).filters.count(logs._REDACTION) == 1


@pytest.mark.parametrize("unit", ["eyJ", "?a", "&jwt=", "JWT ", "eyJa.", "Bearer\t"])
def test_redact_time_grows_linearly_on_hostile_lines(unit: str) -> None:
    # A request line is attacker-chosen text: redaction must not backtrack on it.
    small, large = unit * 20_000, unit * 160_000
    ratio = growth_ratio(redact, small, large)
    assert ratio < 24
