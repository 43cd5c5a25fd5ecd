"""pytest-codex: run context, tool orchestration, exec runtime and evidence for agent workflows.

The public API is re-exported here and imported lazily (PEP 562), so ``import pytest_codex``
(which pytest does for the plugin in every session) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Context": "pytest_codex.context",
    "Run": "pytest_codex.run",
    "Event": "pytest_codex.events",
    "EventBus": "pytest_codex.events",
    "Sink": "pytest_codex.events",
    "Emitter": "pytest_codex.emitter",
    "RecordingEmitter": "pytest_codex.emitter",
    "ResolvedConfig": "pytest_codex.config",
    "ToolOrchestrator": "pytest_codex.orchestrator",
    "ShellCommand": "pytest_codex.orchestrator",
    "PythonCall": "pytest_codex.orchestrator",
    "ApprovalCache": "pytest_codex.approvals",
    "ApprovalKey": "pytest_codex.approvals",
    "Sandbox": "pytest_codex.sandbox",
    "ExecSessionManager": "pytest_codex.runtime",
    "CommandResult": "pytest_codex.runtime",
    "execute_command": "pytest_codex.execution",
    "CodexOrchestrator": "pytest_codex.sdk",
    "ExecResult": "pytest_codex.sdk",
    "load_instructions": "pytest_codex.instructions",
    "InstructionSet": "pytest_codex.instructions",
    "InstructionsConfig": "pytest_codex.instructions",
    "Pipeline": "pytest_codex.pipeline",
    "Stage": "pytest_codex.pipeline",
    "run_pipeline": "pytest_codex.pipeline",
    "record_review": "pytest_codex.review",
    "CodexError": "pytest_codex.errors",
    "UsageError": "pytest_codex.errors",
    "ConfigError": "pytest_codex.errors",
    "TaskIdError": "pytest_codex.errors",
    "ApprovalRefusedError": "pytest_codex.errors",
    "SandboxDeniedError": "pytest_codex.errors",
    "RetryExhaustedError": "pytest_codex.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_codex' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
