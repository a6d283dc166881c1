"""Outgoing mail: headers that thread and stop loops, templates that are safe and checked."""

from __future__ import annotations

import base64
import time
from email import message_from_bytes, policy
from email.message import EmailMessage

import httpx
import pytest
import respx
from jinja2 import TemplateError

from connector.mail.classify import LOOP_HEADER, MailKind, classify
from connector.mail.message import parse_email
from connector.outbound.compose import Envelope, compose, loop_header_value, thread_headers
from connector.outbound.delivery import SendError, Steps
from connector.outbound.graph_send import GraphSender
from connector.outbound.templates import Rendered, check_templates, render
from connector.outbound_config import (
    NotificationSettings,
    OutboundConfigError,
    ProjectRule,
    connection_from_json,
    settings_from_json,
)

LOOP = loop_header_value("mail-connector", "jira:abc")


def _message(thread: tuple[str, ...] = ()) -> EmailMessage:
    return compose(
        Envelope("support@example.com", "jo@customer.example", "Support", "Jo", "in@example.com"),
        Rendered("[SUP-1] Hello", "text body\n", "<p>html body</p>"),
        message_id="<mc.sup-1.abc@example.com>",
        thread_ids=thread,
        loop_value=LOOP,
    )


def test_compose_headers_thread_and_mark_automatic() -> None:
    message = _message(("first@customer.example", "<second@customer.example>"))
    assert message["Message-ID"] == "<mc.sup-1.abc@example.com>"
    assert message["In-Reply-To"] == "<second@customer.example>"
    assert message["References"] == "<first@customer.example> <second@customer.example>"
    assert message["Reply-To"] == "in@example.com"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message[LOOP_HEADER] == LOOP
    assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None


def test_compose_sent_mail_coming_back_is_classified_own_loop() -> None:
    email = parse_email(_message().as_bytes())
    assert classify(email, loop_header_value=LOOP).kind == MailKind.OWN_LOOP
    other = classify(email, loop_header_value=loop_header_value("mail-connector", "jira:other"))
    assert other.kind != MailKind.OWN_LOOP


def test_thread_headers_long_thread_keeps_root_and_latest() -> None:
    ids = [f"m{n}@x.example" for n in range(30)]
    in_reply_to, references = thread_headers(ids)
    assert in_reply_to == "<m29@x.example>"
    assert references is not None
    kept = references.split()
    assert kept[0] == "<m0@x.example>" and kept[-1] == "<m29@x.example>" and len(kept) == 10
    assert thread_headers([]) == (None, None)


def test_render_default_comment_escapes_html_but_not_text() -> None:
    context = {
        "issue_key": "SUP-7",
        "summary": "Broken <b>",
        "issue_url": "",
        "recipient_name": "Jo",
        "recipient_address": "jo@example.com",
        "site_url": "https://x.atlassian.net",
        "author_name": "Ada <Agent>",
        "comment_text": "a < b",
        "comment_html": "<p>a &lt; b</p>",
    }
    rendered = render("comment", context, {})
    assert rendered.subject == "[SUP-7] Broken <b>"
    assert "Ada <Agent> replied" in rendered.text and "a < b" in rendered.text
    assert "Ada &lt;Agent&gt;" in rendered.html
    assert "<p>a &lt; b</p>" in rendered.html  # already escaped, not escaped twice
    overridden = render("comment", context, {"comment_subject": "Re: {{ issue_key }}\nBcc: x"})
    assert overridden.subject == "Re: SUP-7 Bcc: x"  # one line: no header injection


def test_check_templates_reports_the_broken_one() -> None:
    check_templates({"comment_subject": "[{{ issue_key }}] {{ summary | upper }}"})
    with pytest.raises(OutboundConfigError) as syntax:
        check_templates({"status_text": "{% if status %}unclosed"})
    assert syntax.value.field == "templates.status_text"
    with pytest.raises(OutboundConfigError) as undefined:
        check_templates({"comment_html": "{{ sumary }}"})
    assert "sumary" in undefined.value.message
    with pytest.raises(OutboundConfigError) as unknown:
        check_templates({"welcome_text": "hi"})
    assert unknown.value.field == "templates.welcome_text"
    with pytest.raises(OutboundConfigError):  # the sandbox refuses Python internals
        check_templates({"comment_text": "{{ summary.__class__.__mro__ }}"})


@pytest.mark.parametrize(
    ("name", "source", "words"),
    [
        ("comment_text", "{{ 'a' * 300000000 }}", "longer than"),
        ("comment_html", "{{ [0] * 300000000 }}", "longer than"),
        ("status_text", "{{ 7 ** 100000000 }}", "bits"),
        (
            "status_html",
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "range()",
        ),
        (
            "acknowledgement_text",
            "{% for a in range(100) %}{% for b in range(200) %}.{% endfor %}{% endfor %}",
            "range()",
        ),
        ("comment_subject", "{{ summary.center(300000000) }}", "a number above"),
        ("status_subject", "{{ summary|center(300000000) }}", "a number above"),
        ("acknowledgement_html", "{% for a in range(5000) %}{{ 'x' * 99 }}{% endfor %}", "KiB"),
        ("comment_text", "{{ 1 / 0 }}", "ZeroDivisionError"),
    ],
)
def test_check_templates_refuses_templates_that_would_exhaust_the_worker(
    name: str, source: str, words: str
) -> None:
    started = time.monotonic()
    with pytest.raises(OutboundConfigError) as caught:
        check_templates({name: source})
    assert time.monotonic() - started < 1.0
    assert caught.value.field == f"templates.{name}"
    assert words in caught.value.message


def test_render_bounded_templates_still_render_what_notifications_need() -> None:
    template = (
        "{% for n in range(3) %}{{ n * 2 }},{% endfor %} {{ summary|center(24) }}"
        "{{ '-' * 10 }}{{ issue_key + '!' }}"
    )
    check_templates({"comment_text": template})
    rendered = render(
        "comment",
        {"issue_key": "SUP-1", "summary": "Printer", "comment_text": "x", "author_name": "A"},
        {"comment_text": template, "comment_html": "{{ comment_text }}"},
    )
    assert rendered.text == "0,2,4, " + "Printer".center(24) + "-" * 10 + "SUP-1!"


def test_render_long_output_at_send_time_is_a_template_error() -> None:
    """A saved template over the limit only with real values still stops, not the worker."""
    with pytest.raises(TemplateError, match="KiB"):
        render(
            "comment",
            {"issue_key": "SUP-1", "summary": "s", "author_name": "A", "comment_text": "x" * 4000},
            {"comment_text": "{% for n in range(100) %}{{ comment_text }}{% endfor %}"},
        )


def test_settings_per_project_switch_and_events() -> None:
    settings = NotificationSettings(
        events=("comment_created",), projects={"OPS": ProjectRule(enabled=False)}
    )
    assert settings.notifies("SUP", "comment_created") is None
    assert settings.notifies("SUP", "issue_status") == "issue_status notifications are off"
    assert settings.notifies("OPS", "comment_created") == "notifications are off for project OPS"
    parsed = settings_from_json(settings.to_json())
    assert parsed.projects["OPS"].enabled is False and parsed.retention_days == 30
    with pytest.raises(OutboundConfigError) as bad:
        settings_from_json({"retention_days": -1})
    assert bad.value.field == "retention_days"
    with pytest.raises(OutboundConfigError) as link:
        settings_from_json({"link": "http://example.com/no-key"})
    assert link.value.field == "link"


def test_connection_from_json_names_the_missing_input() -> None:
    base = {"host": "smtp.example.com", "username": "u", "from_address": "s@example.com"}
    assert connection_from_json(base, has_password=True).port == 587
    with pytest.raises(OutboundConfigError) as missing:
        connection_from_json(base, has_password=False)
    assert missing.value.field == "password"
    with pytest.raises(OutboundConfigError) as oauth:
        connection_from_json({**base, "auth": "oauth"}, has_password=False)
    assert oauth.value.field == "source_id"
    with pytest.raises(OutboundConfigError) as graph:
        connection_from_json({**base, "transport": "graph", "auth": "password"}, has_password=True)
    assert graph.value.field == "auth"


@respx.mock
def test_graph_send_posts_base64_mime_and_reports_throttling() -> None:
    route = respx.post("https://graph.microsoft.com/v1.0/users/support@example.com/sendMail")
    route.side_effect = [
        httpx.Response(202),
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"code": "TooMany"}}),
    ]
    sender = GraphSender("support@example.com", lambda: "token-1")
    steps = Steps()
    sender.send(_message(), steps)
    request = route.calls[0].request
    assert request.headers["Authorization"] == "Bearer token-1"
    assert request.headers["Content-Type"] == "text/plain"
    sent = message_from_bytes(base64.b64decode(request.content), policy=policy.default)
    assert sent["Message-ID"] == "<mc.sup-1.abc@example.com>" and sent[LOOP_HEADER] == LOOP
    assert [s.name for s in steps.taken] == ["authenticate", "send"]
    with pytest.raises(SendError) as throttled:
        sender.send(_message())
    assert throttled.value.retryable and throttled.value.retry_after == 7
