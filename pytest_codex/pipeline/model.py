"""Pipelines: named lists of stages (commands and guardrails) run inside one run.

Built-ins ``diagnostics`` (build, lint, test, spec-guard) and ``diagnostics-with-eval``
(+ eval) are adapted to a Python repository; the config file's ``pipelines:`` add more or
replace a built-in of the same id. Each stage emits ``stage:start`` and ``stage:end``; the
first stage that fails without ``allowFailure`` ends the pipeline, and the stages after it
are recorded as ``skipped``.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ConfigError, UsageError
from ..handle import RunHandle

StageKind = Literal["command", "guardrail"]
StageStatus = Literal["succeeded", "failed", "allowed-failure", "skipped"]

_SHELL_OPERATORS = frozenset("|&;<>()$`*?[]{}~\n\"'\\")


@dataclass(frozen=True)
class Stage:
    """One stage of a pipeline."""

    id: str
    kind: StageKind
    title: str
    command: str | None = None
    guardrail: str | None = None
    allow_failure: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    summary_hint: str | None = None
    timeout: float | None = None
    dry_run: bool = False

    def argv(self) -> list[str]:
        """The command's argv: split plainly, or run by ``sh -c`` when it uses the shell."""
        if self.command is None:
            raise UsageError(f"stage {self.id!r} has no command")
        if any(ch in _SHELL_OPERATORS for ch in self.command):
            return ["sh", "-c", self.command]
        return shlex.split(self.command)


@dataclass(frozen=True)
class Pipeline:
    """A named sequence of stages."""

    id: str
    title: str
    stages: tuple[Stage, ...]
    description: str = ""
    source: str = "builtin"


@dataclass(frozen=True)
class StageOutcome:
    """What executing one stage gave (before allowFailure is applied)."""

    ok: bool
    exit_code: int | None = None
    detail: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    """The outcome of a pipeline: its status and one record per stage."""

    pipeline: Pipeline
    status: Literal["succeeded", "failed"]
    stages: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        """The ``stages`` part of the run summary."""
        return {"stages": self.stages}


def _python() -> str:
    return sys.executable or "python3"


def builtin_pipelines() -> dict[str, Pipeline]:
    """``diagnostics`` and ``diagnostics-with-eval`` for a Python repository."""
    build = Stage(
        id="build",
        kind="command",
        title="byte-compile the sources",
        command=f"{shlex.quote(_python())} -m compileall -q -x "
        r"'(^|/)(\.venv|venv|\.git|\.runs|out|node_modules|build|dist)(/|$)' .",
        summary_hint="syntax errors stop the build stage",
    )
    lint = Stage(id="lint", kind="guardrail", title="guardrail lint", guardrail="lint")
    test = Stage(
        id="test",
        kind="command",
        title="run the test suite",
        command=f"{shlex.quote(_python())} -m pytest -q -p no:cacheprovider",
        summary_hint="pytest's exit status decides",
        # The suite records its own run of the task (a child of the pipeline's run); the
        # pipeline runs the guardrails as stages of their own, so not again as test items.
        env={"CODEX_ORCHESTRATOR_GUARDRAILS": "none"},
    )
    spec = Stage(
        id="spec-guard", kind="guardrail", title="guardrail spec-guard", guardrail="spec-guard"
    )
    evals = Stage(id="eval", kind="guardrail", title="guardrail eval", guardrail="eval")
    return {
        "diagnostics": Pipeline(
            id="diagnostics",
            title="Diagnostics (build, lint, test, spec-guard)",
            stages=(build, lint, test, spec),
        ),
        "diagnostics-with-eval": Pipeline(
            id="diagnostics-with-eval",
            title="Diagnostics with the evaluation harness",
            stages=(build, lint, test, evals, spec),
        ),
    }


def pipeline_from_config(entry: Mapping[str, Any], source: str) -> Pipeline:
    """A pipeline from one (schema-validated) ``pipelines:`` entry."""
    stages: list[Stage] = []
    for raw in entry["stages"]:
        kind = raw["kind"]
        if kind == "command" and not raw.get("command"):
            raise ConfigError(
                f"{source}: pipeline {entry['id']!r} stage {raw['id']!r}: "
                "a command stage needs 'command'"
            )
        stages.append(
            Stage(
                id=raw["id"],
                kind=kind,
                title=raw.get("title") or _default_title(raw),
                command=raw.get("command"),
                guardrail=raw.get("guardrail") or (raw["id"] if kind == "guardrail" else None),
                allow_failure=bool(raw.get("allowFailure", False)),
                env=dict(raw.get("env") or {}),
                summary_hint=raw.get("summaryHint"),
                timeout=raw.get("timeout_seconds"),
                dry_run=bool(raw.get("dryRun", False)),
            )
        )
    return Pipeline(
        id=entry["id"],
        title=entry.get("title") or entry["id"],
        description=entry.get("description", ""),
        stages=tuple(stages),
        source=source,
    )


def _default_title(raw: Mapping[str, Any]) -> str:
    """A stage without a title is shown by what it runs."""
    if raw["kind"] == "command" and raw.get("command"):
        return str(raw["command"])
    if raw["kind"] == "guardrail":
        return f"guardrail {raw.get('guardrail') or raw['id']}"
    return str(raw["id"])


def available_pipelines(config: Any) -> dict[str, Pipeline]:
    """Built-ins, then the config file's pipelines (same id: the config wins)."""
    pipelines = builtin_pipelines()
    source = f"config:{config.file}" if getattr(config, "file", None) else "config"
    for entry in config.get("pipelines") or []:
        pipelines[entry["id"]] = pipeline_from_config(entry, source)
    return pipelines


def find_pipeline(config: Any, pipeline_id: str) -> Pipeline:
    """The pipeline named ``pipeline_id``, or a UsageError listing the known ones."""
    pipelines = available_pipelines(config)
    if pipeline_id not in pipelines:
        raise UsageError(
            f"unknown pipeline {pipeline_id!r}; known pipelines: {', '.join(sorted(pipelines))}"
        )
    return pipelines[pipeline_id]


StageExecutor = Callable[[Stage], StageOutcome]
ProgressCallback = Callable[[str, Stage, Mapping[str, Any]], None]


def run_pipeline(
    run: RunHandle,
    pipeline: Pipeline,
    *,
    execute: Mapping[str, StageExecutor],
    progress: ProgressCallback | None = None,
) -> PipelineResult:
    """Run the stages in order; ``execute`` maps a stage kind to its executor."""
    records: list[dict[str, Any]] = []
    failed = False
    for stage in pipeline.stages:
        base = {"id": stage.id, "kind": stage.kind, "title": stage.title}
        if failed:
            record = {
                **base,
                "status": "skipped",
                "detail": "an earlier stage failed",
                "durationMs": 0.0,
                "exitCode": None,
            }
            run.emit("stage:end", {"stage": record})
            records.append(record)
            if progress:
                progress("end", stage, record)
            continue
        run.emit("stage:start", {"stage": base})
        if progress:
            progress("start", stage, base)
        started = time.monotonic()
        try:
            outcome = execute[stage.kind](stage)
        except Exception as exc:  # a stage that blows up fails, the pipeline reports it
            outcome = StageOutcome(ok=False, detail=f"{type(exc).__name__}: {exc}")
        status: StageStatus
        if outcome.ok:
            status = "succeeded"
        elif stage.allow_failure:
            status = "allowed-failure"
        else:
            status = "failed"
            failed = True
        record = {
            **base,
            "status": status,
            "exitCode": outcome.exit_code,
            "durationMs": round((time.monotonic() - started) * 1000, 3),
            "allowFailure": stage.allow_failure,
            "detail": outcome.detail,
            "summaryHint": stage.summary_hint,
            **outcome.extra,
        }
        run.emit("stage:end", {"stage": record})
        records.append(record)
        if progress:
            progress("end", stage, record)
    return PipelineResult(pipeline, "failed" if failed else "succeeded", records)
