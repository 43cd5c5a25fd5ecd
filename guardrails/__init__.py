"""The pytest-codex guardrail toolkit.

A guardrail checks a repository for one kind of problem and reports findings; under
``pytest --codex-task <id>`` each enabled guardrail is a test item, and under
``codex-orchestrator start <pipeline>`` a stage. Results land in the run manifest's
``guardrails[]``. Write your own by subclassing :class:`Guardrail` and registering it through
the ``codex_guardrails`` entry-point group (see :mod:`guardrails.hookspecs`).
"""

from __future__ import annotations

from .api import STATUSES, Finding, Guardrail, Inputs, Result, Severity, Status
from .checklist.flip import FlipPlan, FlipRefused, apply_flip, plan_flip
from .context import CommandOutput, GuardrailCommandError, GuardrailContext
from .hookspecs import hookimpl
from .registry import available, discover, parse_names, plugin_manager, select
from .session import GuardrailSession

# Marks this package as this project's: the top-level name is shared with other distributions
# (guardrails-ai), and pytest_codex.distribution reads this line to tell them apart.
__codex_owner__ = "pytest-codex-orchestrator"

__all__ = [
    "STATUSES",
    "CommandOutput",
    "Finding",
    "FlipPlan",
    "FlipRefused",
    "Guardrail",
    "GuardrailCommandError",
    "GuardrailContext",
    "GuardrailSession",
    "Inputs",
    "Result",
    "Severity",
    "Status",
    "apply_flip",
    "available",
    "discover",
    "hookimpl",
    "parse_names",
    "plan_flip",
    "plugin_manager",
    "select",
]
