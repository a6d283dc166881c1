"""Tenants' templates under real limits: the sandbox's early refusals, and the template
workers' time and memory budget that holds where the sandbox has no hook (issue 12)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.budget import MIB, Budget, BudgetPool
from connector.outbound.rendering import TemplateFailure, TemplateRunner
from connector.outbound.templates import check_templates, render, sample_context
from connector.outbound_config import OutboundConfigError

# Short, so each runaway template costs a second; real templates render in milliseconds.
BUDGET = Budget(seconds=1.0, memory_bytes=512 * MIB)
# For the families the sandbox refuses on its own: a budget a loaded machine cannot exceed, so
# the refusal asserted is the sandbox's and never the time limit's.
SANDBOX_BUDGET = Budget(seconds=30.0, memory_bytes=512 * MIB)
TIMED_OUT = "took longer than 1 s to render"
BIG = "'x' * 100000"
# Loops over a string: the sandbox cannot count them, only the time limit stops them.
SPIN = f"{{% for a in {BIG} %}}{{% for b in {BIG} %}}{{% endfor %}}{{% endfor %}}"
HOSTILE = [
    pytest.param("status_html", SPIN, TIMED_OUT, id="nested-loops"),
    pytest.param(
        "comment_text",
        "{% macro f(n) %}{{ f(n + 1) }}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "nest macro calls at most",
        id="recursive-macro",
    ),
    pytest.param(
        "comment_text",
        "{% macro f(n) %}{% if n < 25 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}"
        "{{ f(0) }}",
        "call macros at most",
        id="branching-macro",
    ),
    pytest.param("status_text", "{{ '%0200000000d' % 1 }}", "with %", id="percent"),
    pytest.param(
        "status_text", "{{ '{:>200000000}'.format(1) }}", "with a method", id="format-method"
    ),
    pytest.param(
        "comment_html",
        "{% set s = 'a' * 2000 %}{{ s.replace('a', s).replace('a', s) }}",
        "with a method",
        id="replace-method",
    ),
    pytest.param(
        "comment_html",
        "{% set s = 'a' * 2000 %}{{ s|replace('a', s) }}",
        "replace filter",
        id="replace-filter",
    ),
    pytest.param(
        "acknowledgement_text",
        "{% set s = 'a' * 2000 %}{{ s|list|join(s) }}",
        "join filter",
        id="join-filter",
    ),
    pytest.param(
        "status_text",
        "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "with ~",
        id="concat-in-loop",
    ),
    pytest.param("comment_text", "{{ lipsum(100000) }}", "'lipsum' is undefined", id="lipsum"),
    pytest.param(
        "comment_html",
        f"{{% for a in summary %}}{{% for b in {BIG} %}}{{{{ b }}}}{{% endfor %}}{{% endfor %}}",
        "at most 256 KiB of text",
        id="streamed-output",
    ),
]


@pytest.fixture(scope="module")
def runner() -> Iterator[TemplateRunner]:
    pool = BudgetPool(BUDGET, workers=2)
    try:
        yield TemplateRunner(pool)
    finally:
        pool.close()


@pytest.fixture(scope="module")
def sandbox_runner() -> Iterator[TemplateRunner]:
    pool = BudgetPool(SANDBOX_BUDGET, workers=1)
    try:
        yield TemplateRunner(pool)
    finally:
        pool.close()


@pytest.mark.parametrize(("name", "source", "words"), HOSTILE)
def test_template_runner_check_hostile_family_refused_on_save_with_reason(
    runner: TemplateRunner,
    sandbox_runner: TemplateRunner,
    name: str,
    source: str,
    words: str,
) -> None:
    chosen = runner if words == TIMED_OUT else sandbox_runner
    with pytest.raises(OutboundConfigError) as caught:
        chosen.check({name: source}, tenant=1)
    assert caught.value.field == f"templates.{name}"
    assert words in caught.value.message


def test_template_runner_check_memory_hog_refused_by_memory_budget(
    runner: TemplateRunner,
) -> None:
    """600 MB in one `format` call: no sandbox check sees it before it is built."""
    with pytest.raises(OutboundConfigError) as caught:
        runner.check({"comment_text": "{{ '{:>600000000}'.format(1) }}"}, tenant=1)
    assert caught.value.message == "needed more than 512 MiB to render"


def test_template_runner_render_matches_in_process_render(runner: TemplateRunner) -> None:
    context = {**sample_context("status"), "issue_key": "SUP-2", "summary": "Printer"}
    overrides = {
        "status_subject": "{{ issue_key }} is {{ status|lower }}",
        "status_html": "{% macro b(t) %}<b>{{ t }}</b>{% endmacro %}{{ b(summary ~ '!') }}",
    }
    through_workers = runner.render("status", context, overrides, tenant=1)
    assert through_workers == render("status", context, overrides)
    assert through_workers.subject == "SUP-2 is done"
    assert through_workers.html == "<b>Printer!</b>"
    assert "changed from In Progress to Done" in through_workers.text  # the default text


def test_template_runner_render_runaway_for_one_issue_only_names_template_and_recovers(
    runner: TemplateRunner,
) -> None:
    """Fine with the sample issue (SUP-1), so it is saved; it spins for any other."""
    source = f"{{% if issue_key != 'SUP-1' %}}{SPIN}{{% endif %}}{{{{ summary }}}}"
    runner.check({"comment_text": source}, tenant=1)
    context = {**sample_context("comment"), "issue_key": "SUP-7"}
    with pytest.raises(TemplateFailure) as caught:
        runner.render("comment", context, {"comment_text": source}, tenant=1)
    assert caught.value.template == "comment_text"
    assert caught.value.reason == "took longer than 1 s to render"
    # The worker that spun was replaced: the next render is served.
    again = runner.render("comment", context, {"comment_subject": "{{ issue_key }}"}, tenant=1)
    assert again.subject == "SUP-7"


def test_template_runner_render_broken_for_real_values_names_template(
    runner: TemplateRunner,
) -> None:
    context = {**sample_context("comment"), "issue_key": "SUP-7", "summary": ""}
    source = "{{ 10 // summary|length }}"
    with pytest.raises(TemplateFailure) as caught:
        runner.render("comment", context, {"comment_html": source}, tenant=1)
    assert caught.value.template == "comment_html"
    assert caught.value.reason.startswith("ZeroDivisionError")


@pytest.mark.parametrize(
    ("name", "source", "words"),
    [param for param in HOSTILE if param.id not in ("nested-loops", "streamed-output")],
)
def test_check_templates_sandbox_refuses_hostile_family_early(
    name: str, source: str, words: str
) -> None:
    """The same families fail in the sandbox too, before any budget, in words."""
    with pytest.raises(OutboundConfigError) as caught:
        check_templates({name: source})
    assert words in caught.value.message


def test_render_macros_and_concat_within_limits_render() -> None:
    source = (
        "{% macro item(n) %}{% if n %}{{ item(n - 1) }}{% endif %}[{{ n }}]{% endmacro %}"
        "{% set line = issue_key ~ ': ' ~ summary %}{{ item(5) }} {{ line }}"
    )
    context = {**sample_context("comment"), "issue_key": "SUP-3", "summary": "s"}
    check_templates({"comment_text": source})
    assert render("comment", context, {"comment_text": source}).text == (
        "[0][1][2][3][4][5] SUP-3: s"
    )
