"""Notification text from Jinja2 templates: sensible defaults, each replaceable per tenant.

Tenants write these templates, so they run in Jinja2's immutable sandbox (no attribute access
to Python internals, no changing what they are given) with `StrictUndefined`, so a misspelt
variable fails when the template is saved rather than printing nothing in a customer's mail.
HTML templates autoescape; the comment's HTML is already escaped (`adf_to_html`) and is marked
safe. Subjects and plain text are not HTML and do not escape.

The sandbox keeps templates away from Python's internals but not from using up the shared
worker's memory and time (`{{ 'a' * 300000000 }}`, nested loops over a string), so a tenant's
template renders only in a template worker process with a time and memory budget
(`connector.outbound.rendering`, which calls the `*_detached` functions here), and the
sandbox adds early limits in words (`connector.outbound.template_limits`). The defaults are
ours and render in-process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from markupsafe import Markup

from connector.outbound.template_limits import BoundedSandbox, TemplateLimitError, render_bounded
from connector.outbound_config import OutboundConfigError

# kind -> part -> default source. Kinds: the events that send mail, and the test mail.
DEFAULTS: Mapping[str, Mapping[str, str]] = {
    "comment": {
        "subject": "[{{ issue_key }}] {{ summary }}",
        "text": (
            "{{ author_name }} replied to your request {{ issue_key }}:\n\n"
            "{{ comment_text }}\n"
            "{% if issue_url %}\nView the request: {{ issue_url }}\n{% endif %}"
            "\nReply to this email to add a comment; please keep [{{ issue_key }}] in the "
            "subject.\n"
        ),
        "html": (
            "<p>{{ author_name }} replied to your request <b>{{ issue_key }}</b>:</p>\n"
            '<div style="border-left:3px solid #ccc;padding-left:12px">{{ comment_html }}</div>\n'
            '{% if issue_url %}<p><a href="{{ issue_url }}">View the request</a></p>\n'
            "{% endif %}"
            "<p>Reply to this email to add a comment; please keep [{{ issue_key }}] in the "
            "subject.</p>\n"
        ),
    },
    "status": {
        "subject": "[{{ issue_key }}] {{ summary }} is now {{ status }}",
        "text": (
            "Your request {{ issue_key }} ({{ summary }}) changed from {{ old_status }} to "
            "{{ status }}.\n"
            "{% if issue_url %}\nView the request: {{ issue_url }}\n{% endif %}"
            "\nReply to this email to add a comment.\n"
        ),
        "html": (
            "<p>Your request <b>{{ issue_key }}</b> ({{ summary }}) changed from "
            "{{ old_status }} to <b>{{ status }}</b>.</p>\n"
            '{% if issue_url %}<p><a href="{{ issue_url }}">View the request</a></p>\n'
            "{% endif %}"
            "<p>Reply to this email to add a comment.</p>\n"
        ),
    },
    "acknowledgement": {
        "subject": "[{{ issue_key }}] {{ summary }}",
        "text": (
            "Thank you for your message. We have received it as request {{ issue_key }} and "
            "will answer soon.\n"
            "{% if issue_url %}\nView the request: {{ issue_url }}\n{% endif %}"
            "\nReply to this email to add to your request; please keep [{{ issue_key }}] in "
            "the subject.\n"
        ),
        "html": (
            "<p>Thank you for your message. We have received it as request "
            "<b>{{ issue_key }}</b> and will answer soon.</p>\n"
            '{% if issue_url %}<p><a href="{{ issue_url }}">View the request</a></p>\n'
            "{% endif %}"
            "<p>Reply to this email to add to your request; please keep [{{ issue_key }}] in "
            "the subject.</p>\n"
        ),
    },
}
PARTS = ("subject", "text", "html")
NAMES = tuple(f"{kind}_{part}" for kind in DEFAULTS for part in PARTS)

# What each kind's templates may use; the values are what a template check renders with.
SAMPLE: Mapping[str, Any] = {
    "issue_key": "SUP-1",
    "summary": "Printer on fire",
    "issue_url": "https://example.atlassian.net/browse/SUP-1",
    "recipient_name": "Jo Customer",
    "recipient_address": "jo@customer.example",
    "site_url": "https://example.atlassian.net",
}
_KIND_SAMPLE: Mapping[str, Mapping[str, Any]] = {
    "comment": {
        "author_name": "Ada Agent",
        "comment_text": "We replaced the printer.",
        "comment_html": Markup("<p>We replaced the printer.</p>"),
    },
    "status": {"status": "Done", "old_status": "In Progress", "author_name": "Ada Agent"},
    "acknowledgement": {},
}

_MAX_TEMPLATE_CHARS = 20_000


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _environment(html: bool) -> BoundedSandbox:
    return BoundedSandbox(
        autoescape=html,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )


_ENVIRONMENTS = {True: _environment(True), False: _environment(False)}


def sample_context(kind: str) -> dict[str, Any]:
    return {**SAMPLE, **_KIND_SAMPLE[kind]}


@dataclass(frozen=True)
class TemplateProblem:
    """Why a template failed in a worker process (Jinja2's exceptions do not all survive
    pickling, so the worker answers with this instead)."""

    reason: str


def check_name(name: str, source: str) -> None:
    """The cheap part of a check, before anything renders: a known name, a bounded length."""
    field = f"templates.{name}"
    if name not in NAMES:
        raise OutboundConfigError(field, f"is not a template; the names are {', '.join(NAMES)}")
    if len(source) > _MAX_TEMPLATE_CHARS:
        raise OutboundConfigError(field, f"must be at most {_MAX_TEMPLATE_CHARS} characters")


def check_templates(templates: Mapping[str, str]) -> None:
    """Raise `OutboundConfigError` (field `templates.<name>`) for the first template that is
    unknown, too long, does not compile, or fails with the variables its kind provides.
    In this process: the admin API checks through `rendering.TemplateRunner` instead."""
    for name, source in templates.items():
        check_name(name, source)
        problem = check_detached(name, source)
        if problem is not None:
            raise OutboundConfigError(f"templates.{name}", problem.reason)


def check_detached(name: str, source: str) -> TemplateProblem | None:
    """Render one template with its kind's sample values; why it failed, or None."""
    kind, part = name.rsplit("_", 1)
    result = render_part_detached(source, part, sample_context(kind))
    if isinstance(result, TemplateProblem):
        return result
    if part == "subject" and not result.strip():
        return TemplateProblem("renders an empty subject")
    return None


def render(kind: str, context: Mapping[str, Any], overrides: Mapping[str, str]) -> Rendered:
    """The subject, plain text and HTML of one mail, in this process; raises `TemplateError`
    on a broken template."""
    values = template_values(context)
    parts = {
        part: render_part(overrides.get(f"{kind}_{part}") or DEFAULTS[kind][part], part, values)
        for part in PARTS
    }
    return rendered(parts)


def rendered(parts: Mapping[str, str]) -> Rendered:
    return Rendered(subject=one_line(parts["subject"]), text=parts["text"], html=parts["html"])


def template_values(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context as templates see it: the comment's HTML is already escaped (`adf_to_html`)."""
    values = {**context}
    if "comment_html" in values and not isinstance(values["comment_html"], Markup):
        values["comment_html"] = Markup(values["comment_html"])  # noqa: S704 - escaped ADF
    return values


def render_part(source: str, part: str, context: Mapping[str, Any]) -> str:
    template = _ENVIRONMENTS[part == "html"].from_string(source)
    return render_bounded(template, context)


def render_part_detached(
    source: str, part: str, context: Mapping[str, Any]
) -> str | TemplateProblem:
    """`render_part` for a worker process: the text, or why the template failed."""
    try:
        return render_part(source, part, context)
    except MemoryError:  # the worker's budget, which the pool reports in its own words
        raise
    except TemplateLimitError as exc:
        return TemplateProblem(str(exc))
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        return TemplateProblem(f"{type(exc).__name__}{where}: {exc}")
    except Exception as exc:  # `{{ 1 / 0 }}` and the like: the template is broken
        return TemplateProblem(f"{type(exc).__name__}: {exc}")


def one_line(value: str) -> str:
    """A header value: no line breaks (they would start a new header), spaces collapsed."""
    return " ".join(value.split())[:900]
