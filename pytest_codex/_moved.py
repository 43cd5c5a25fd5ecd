"""Old import paths of modules that moved when the flat package became subpackages.

``import pytest_codex.cli_exec`` (and every other name below) keeps working: a meta path
finder answers for the old name with the module at its new place, so both names are the
same module object, and warns once with :class:`DeprecationWarning`. The table is also the
record of what moved where (see docs/architecture.md).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

MOVED: dict[str, str] = {
    "pytest_codex.run_identity": "pytest_codex.handle",
    "pytest_codex.command_runner": "pytest_codex.execution",
    "pytest_codex.codex_dialect": "pytest_codex.sinks.codex_dialect",
    "pytest_codex.human": "pytest_codex.sinks.human",
    "pytest_codex.notify": "pytest_codex.sinks.notify",
    "pytest_codex.telemetry": "pytest_codex.sinks.telemetry",
    "pytest_codex.pipeline_runner": "pytest_codex.pipeline.execute",
    "pytest_codex.cli_common": "pytest_codex.cli._options",
    "pytest_codex.cli_runs": "pytest_codex.cli.runs",
    "pytest_codex.cli_schema": "pytest_codex.cli.schema",
    "pytest_codex.cli_review": "pytest_codex.cli.review",
    "pytest_codex.cli_approvals": "pytest_codex.cli.approvals",
    "pytest_codex.cli_exec": "pytest_codex.cli.exec",
    "pytest_codex.cli_instructions": "pytest_codex.cli.instructions",
    "pytest_codex.cli_start": "pytest_codex.cli.start",
    "pytest_codex.cli_checklist": "pytest_codex.cli.checklist",
    "pytest_codex.cli_docs": "pytest_codex.cli.docs",
    "pytest_codex.assert_rewrite": "pytest_codex.plugin.assert_rewrite",
    "pytest_codex.stash_keys": "pytest_codex.plugin.state",
    "pytest_codex.recorder": "pytest_codex.plugin.recorder",
    "pytest_codex.worker": "pytest_codex.plugin.worker",
    "pytest_codex.fixtures": "pytest_codex.plugin.fixtures.run",
    "pytest_codex.orchestrator_fixtures": "pytest_codex.plugin.fixtures.orchestrator",
    "pytest_codex.runtime_fixtures": "pytest_codex.plugin.fixtures.runtime",
    "pytest_codex.guardrail_fixtures": "pytest_codex.plugin.fixtures.guardrails",
    "guardrails.runner": "guardrails.session",
    "guardrails.checklist_doc": "guardrails.checklist.doc",
    "guardrails.checklist_flip": "guardrails.checklist.flip",
}


class _Alias:
    """Loads an old name as the module at its new place (a loader by protocol: subclassing
    ``importlib.abc`` would import ``importlib.resources`` at every start-up)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.target}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was executed under its new name."""


class MovedModuleFinder:
    """Finds the old names in :data:`MOVED`, and nothing else (a meta path finder by
    protocol)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))  # type: ignore[arg-type]


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
