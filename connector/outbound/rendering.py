"""Tenants' templates rendered within a time and memory budget, in worker processes.

A custom template is code an admin wrote, run for every mail of that tenant in the worker
shared by all tenants. The sandbox's limits (`connector.outbound.template_limits`) catch the
usual ways to make it expensive, but not all: nested loops over a string, a 200 MB string
built in one `%` or `format`. So a custom template only renders in a worker process of the
budget pool (`connector.budget`), both when it is checked on save and when mail is queued;
one that runs past the budget is killed with its worker and the caller moves on. The
defaults are ours and render in-process.

The budget, `TEMPLATE_BUDGET`: a real template renders in a few milliseconds, so 2 s is
hundreds of times that on a loaded machine, while a hostile one holds a template worker no
longer. 512 MiB of address space: a worker starts at about 55 MiB and a render's output is
capped at 256 KiB a part, so real templates use a fraction of it; a string that tries to grow
past it fails with `MemoryError` in the worker, and two workers cannot take more than 1 GiB.
The pool is its own (`purpose="templates"`), so templates never wait behind a mail being read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.budget import MIB, Budget, BudgetPool, OverBudget, shared_pool
from connector.outbound.templates import (
    DEFAULTS,
    PARTS,
    Rendered,
    TemplateProblem,
    check_detached,
    check_name,
    render_part,
    render_part_detached,
    rendered,
    template_values,
)
from connector.outbound_config import OutboundConfigError

TEMPLATE_BUDGET = Budget(seconds=2.0, memory_bytes=512 * MIB)
TEMPLATE_WORKERS = 2


class TemplateFailure(Exception):
    """A custom template failed or went over its budget while mail was rendered."""

    def __init__(self, template: str, reason: str) -> None:
        super().__init__(f"template {template}: {reason}")
        self.template = template
        self.reason = reason


class TemplateRunner:
    """Checks and renders tenants' templates in the pool's workers; blocking, thread-safe."""

    def __init__(self, pool: BudgetPool) -> None:
        self._pool = pool

    def check(self, templates: Mapping[str, str], *, tenant: object) -> None:
        """Raise `OutboundConfigError` (field `templates.<name>`) for the first template that
        is unknown, too long, broken, or over a limit or the budget with the sample values."""
        for name, source in templates.items():
            check_name(name, source)
            try:
                problem = self._pool.run(check_detached, name, source, what="render", tenant=tenant)
            except OverBudget as exc:
                raise OutboundConfigError(f"templates.{name}", exc.reason) from None
            if problem is not None:
                raise OutboundConfigError(f"templates.{name}", problem.reason)

    def render(
        self,
        kind: str,
        context: Mapping[str, Any],
        overrides: Mapping[str, str],
        *,
        tenant: object,
    ) -> Rendered:
        """One mail's parts; raises `TemplateFailure` naming the custom template at fault."""
        values = template_values(context)
        parts: dict[str, str] = {}
        for part in PARTS:
            name = f"{kind}_{part}"
            source = overrides.get(name)
            if not source:
                parts[part] = render_part(DEFAULTS[kind][part], part, values)
                continue
            try:
                result = self._pool.run(
                    render_part_detached, source, part, values, what="render", tenant=tenant
                )
            except OverBudget as exc:
                raise TemplateFailure(name, exc.reason) from None
            if isinstance(result, TemplateProblem):
                raise TemplateFailure(name, result.reason)
            parts[part] = result
        return rendered(parts)


def template_runner(budget: Budget = TEMPLATE_BUDGET) -> TemplateRunner:
    """The process-wide runner for this budget (one pool of template workers per process)."""
    return TemplateRunner(shared_pool(budget, workers=TEMPLATE_WORKERS, purpose="templates"))
