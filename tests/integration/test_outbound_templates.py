"""Tenants' templates under real limits, through the admin API and the outbound worker
(issue 12): runaway templates are refused on save with the reason; one that runs away only
with a real issue's values fails that mail, turns the tenant's custom templates off with an
error the admin sees, and another tenant's mail still leaves in the same round (aiosmtpd)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from connector.budget import MIB, Budget
from connector.outbound.worker import OutboundWorker
from connector.storage.threads import Participant
from tests.fakes.jira import FakeJira
from tests.integration.admin_support import AdminApi, connect_outbound, make_admin_api
from tests.integration.conftest import RunningApp
from tests.servers.smtp import Delivered, SmtpServer

# Loops over a string, which the sandbox cannot count: only the time limit stops them.
SPIN = "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}{{ status }}"
# The sample issue is SUP-1 (connector.outbound.templates.SAMPLE), so this passes its check.
SPIN_EXCEPT_SAMPLE = "{% if issue_key != 'SUP-1' %}" + SPIN + "{% endif %}{{ status }}"


@pytest.fixture
def template_budget() -> Budget:
    return Budget(seconds=1.0, memory_bytes=512 * MIB)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def api(running_app: RunningApp, fake_jira: FakeJira, smtp_server: SmtpServer) -> AdminApi:
    admin = make_admin_api(running_app, fake_jira)
    connect_outbound(admin, smtp_server)
    return admin


@pytest.fixture
def other(api: AdminApi, smtp_server: SmtpServer) -> Iterator[AdminApi]:
    """A second site with the app installed, sending through the same server."""
    with FakeJira(app_key="mail-connector", key_server=api.jira.key_server) as jira:
        admin = make_admin_api(api.app, jira)
        connect_outbound(admin, smtp_server)
        yield admin


def _customer(api: AdminApi, issue_key: str, address: str) -> None:
    api.app.runtime.participants.record(
        api.tenant_id, issue_key, [Participant(address=address, name="Customer", role="sender")]
    )


def _status_change(api: AdminApi, issue_key: str, summary: str, to: str) -> None:
    payload: dict[str, Any] = {
        "issue": {
            "id": str(10000 + int(issue_key.split("-")[1])),
            "key": issue_key,
            "fields": {"summary": summary, "project": {"key": "SUP"}, "status": {"name": to}},
        },
        "changelog": {
            "id": uuid.uuid4().hex,
            "items": [
                {"field": "status", "fieldId": "status", "fromString": "Open", "toString": to}
            ],
        },
    }
    assert api.jira.send_webhook("jira:issue_updated", payload).status_code == 204


def _text(delivered: Delivered) -> str:
    body = delivered.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _templates(api: AdminApi, **templates: str) -> Any:
    return api.call("PUT", "/notification-settings", json={"templates": templates})


def test_outbound_api_runaway_templates_refused_on_save_with_reason(api: AdminApi) -> None:
    cases = {
        "status_html": (SPIN, "took longer than 1 s to render"),
        "comment_text": (
            "{% macro f(n) %}{{ f(n + 1) }}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            "nest macro calls",
        ),
        "status_text": ("{% set s = 'a' * 2000 %}{{ s.replace('a', s) }}", "256 KiB"),
        "comment_html": ("{{ lipsum(100000) }}", "'lipsum' is undefined"),
        "acknowledgement_text": (
            "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "with ~",
        ),
    }
    for name, (source, words) in cases.items():
        refused = _templates(api, **{name: source})
        assert refused.status_code == 400, name
        assert refused.json()["field"] == f"templates.{name}"
        assert words in refused.json()["error"], name
    assert api.call("GET", "/notification-settings").json()["templates"] == {}


def test_outbound_template_running_away_for_one_issue_fails_that_mail_not_the_round(
    api: AdminApi, other: AdminApi, smtp_server: SmtpServer
) -> None:
    _customer(api, "SUP-7", "jo@customer.example")
    _customer(other, "SUP-1", "kim@other.example")
    saved = _templates(api, status_text=SPIN_EXCEPT_SAMPLE)
    assert saved.status_code == 200 and saved.json()["template_error"] is None
    assert (
        _templates(other, status_subject="Other: {{ issue_key }} {{ status }}").status_code == 200
    )
    _status_change(api, "SUP-7", "Printer on fire", "Done")
    _status_change(other, "SUP-1", "Login fails", "Done")

    worker = OutboundWorker(api.app.runtime)
    result = worker.run_once()
    assert (result.events, result.sent) == (2, 1)
    assert [(d.recipients, d.message["Subject"]) for d in smtp_server.delivered] == [
        (("kim@other.example",), "Other: SUP-1 Done")
    ]
    (failed,) = api.call("GET", "/outbound-messages").json()["messages"]
    assert failed["status"] == "failed" and failed["recipient"] == "jo@customer.example"
    assert failed["error"].startswith("template status_text: took longer than 1 s to render.")
    (event,) = api.call("GET", "/webhook-events").json()["events"]
    assert "1 failed: template status_text" in event["reason"]
    error = api.call("GET", "/notification-settings").json()["template_error"]
    assert {k: error[k] for k in ("template", "reason", "issue_key")} == {
        "template": "status_text",
        "reason": "took longer than 1 s to render",
        "issue_key": "SUP-7",
    }
    assert error["at"]
    assert other.call("GET", "/notification-settings").json()["template_error"] is None

    # Later mail of that site goes out with the default templates, and Retry sends the
    # failed one with them.
    _status_change(api, "SUP-7", "Printer on fire", "Closed")
    assert api.call("POST", f"/outbound-messages/{failed['id']}/retry").status_code == 200
    assert worker.run_once().sent == 2
    texts = [_text(delivered) for delivered in smtp_server.delivered[1:]]
    assert {text.splitlines()[0] for text in texts} == {
        f"Your request SUP-7 (Printer on fire) changed from Open to {to}."
        for to in ("Done", "Closed")
    }

    # Saving the templates again is the admin's word that they are fixed: they are used again.
    fixed = _templates(api, status_text="Now {{ status }}.")
    assert fixed.status_code == 200 and fixed.json()["template_error"] is None
    _status_change(api, "SUP-7", "Printer on fire", "Reopened")
    assert worker.run_once().sent == 1
    assert _text(smtp_server.delivered[-1]).strip() == "Now Reopened."
