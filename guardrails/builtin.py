"""The built-in guardrails, registered through the ``codex_guardrails`` entry point like any
third-party plugin: spec-guard, lint, eval, collateral, checklist."""

from __future__ import annotations

from .api import Guardrail
from .hookspecs import hookimpl

BUILTIN_ORDER = ("spec-guard", "lint", "eval", "collateral", "checklist")


@hookimpl
def codex_guardrails() -> list[Guardrail]:
    """spec-guard, lint, eval, collateral and checklist, in that order."""
    from .checklist import ChecklistGuardrail
    from .collateral import CollateralGuardrail
    from .eval_harness import EvalGuardrail
    from .lint import LintGuardrail
    from .spec_guard import SpecGuard

    return [
        SpecGuard(),
        LintGuardrail(),
        EvalGuardrail(),
        CollateralGuardrail(),
        ChecklistGuardrail(),
    ]
