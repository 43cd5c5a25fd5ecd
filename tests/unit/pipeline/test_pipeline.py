"""Pipelines: stage order, allowFailure, skipping after a failure, config pipelines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_codex.context import Context
from pytest_codex.errors import ConfigError, UsageError
from pytest_codex.paths import ROOT_ENV
from pytest_codex.pipeline.model import (
    Pipeline,
    Stage,
    StageOutcome,
    available_pipelines,
    builtin_pipelines,
    find_pipeline,
    run_pipeline,
)
from pytest_codex.run import Run
from tests.helpers.trust import trusted


def _context(root: Path, config: str | None = None) -> Context:
    if config is not None:
        trusted(root / "codex.orchestrator.yaml", config)
    return Context.load(cwd=root, env={ROOT_ENV: str(root)})


def _run(root: Path) -> Run:
    return Run.start(_context(root), task_id="pipe-task", heartbeat=False)


def _pipeline(*stages: Stage) -> Pipeline:
    return Pipeline(id="p", title="p", stages=stages)


def test_stages_run_in_order_and_land_in_the_manifest(tmp_path: Path) -> None:
    run = _run(tmp_path)
    seen: list[str] = []

    def execute(stage: Stage) -> StageOutcome:
        seen.append(stage.id)
        return StageOutcome(ok=True, exit_code=0)

    stages = (Stage("a", "command", "A", command="true"), Stage("b", "command", "B", "true"))
    result = run_pipeline(run, _pipeline(*stages), execute={"command": execute})
    run.finish(result.status)
    manifest = json.loads(run.paths.manifest.read_text())
    assert seen == ["a", "b"]
    assert result.status == "succeeded"
    assert [s["id"] for s in manifest["stages"]] == ["a", "b"]
    assert [s["status"] for s in manifest["stages"]] == ["succeeded", "succeeded"]
    types = [json.loads(line)["type"] for line in run.paths.events.read_text().splitlines()]
    assert types.index("stage:start") < types.index("stage:end")
    assert types.count("stage:start") == 2 and types.count("stage:end") == 2


def test_allowed_failure_continues_and_a_real_failure_skips_the_rest(tmp_path: Path) -> None:
    run = _run(tmp_path)
    outcomes = {"lint": False, "test": False, "after": True}
    ran: list[str] = []

    def execute(stage: Stage) -> StageOutcome:
        ran.append(stage.id)
        return StageOutcome(ok=outcomes[stage.id], exit_code=0 if outcomes[stage.id] else 1)

    pipeline = _pipeline(
        Stage("lint", "command", "lint", command="x", allow_failure=True),
        Stage("test", "command", "test", command="x"),
        Stage("after", "command", "after", command="x"),
    )
    result = run_pipeline(run, pipeline, execute={"command": execute})
    run.finish(result.status)
    assert ran == ["lint", "test"]
    assert result.status == "failed"
    assert [s["status"] for s in result.stages] == ["allowed-failure", "failed", "skipped"]
    assert result.stages[1]["exitCode"] == 1


def test_a_stage_that_raises_fails_with_the_error_in_its_record(tmp_path: Path) -> None:
    run = _run(tmp_path)

    def explode(stage: Stage) -> StageOutcome:
        raise RuntimeError("executor broke")

    result = run_pipeline(
        run, _pipeline(Stage("x", "command", "x", command="x")), execute={"command": explode}
    )
    run.finish(result.status)
    assert result.status == "failed"
    assert result.stages[0]["detail"] == "RuntimeError: executor broke"


def test_builtin_diagnostics_pipelines_have_the_documented_stages() -> None:
    pipelines = builtin_pipelines()
    assert [s.id for s in pipelines["diagnostics"].stages] == [
        "build",
        "lint",
        "test",
        "spec-guard",
    ]
    assert [s.id for s in pipelines["diagnostics-with-eval"].stages] == [
        "build",
        "lint",
        "test",
        "eval",
        "spec-guard",
    ]


def test_config_pipelines_add_and_replace_builtins(tmp_path: Path) -> None:
    context = _context(
        tmp_path,
        "pipelines:\n"
        "  - id: diagnostics\n"
        "    stages:\n"
        "      - {kind: command, id: only, command: 'echo hi', allowFailure: true,"
        " env: {A: b}, summaryHint: hint}\n"
        "  - id: extra\n"
        "    title: Extra\n"
        "    stages: [{kind: guardrail, id: spec-guard}]\n",
    )
    pipelines = available_pipelines(context.config)
    only = pipelines["diagnostics"].stages[0]
    assert (only.id, only.allow_failure, dict(only.env), only.summary_hint) == (
        "only",
        True,
        {"A": "b"},
        "hint",
    )
    assert pipelines["extra"].stages[0].guardrail == "spec-guard"
    assert "diagnostics-with-eval" in pipelines


def test_a_command_stage_without_a_command_is_a_config_error(tmp_path: Path) -> None:
    context = _context(
        tmp_path, "pipelines:\n  - id: broken\n    stages: [{kind: command, id: nothing}]\n"
    )
    with pytest.raises(ConfigError, match="needs 'command'"):
        available_pipelines(context.config)


def test_unknown_pipeline_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="known pipelines: diagnostics, diagnostics-with-eval"):
        find_pipeline(_context(tmp_path).config, "nope")


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("ruff check .", ["ruff", "check", "."]),
        ("pytest -q && echo ok", ["sh", "-c", "pytest -q && echo ok"]),
        ("echo $HOME", ["sh", "-c", "echo $HOME"]),
    ],
)
def test_commands_split_plainly_unless_they_need_a_shell(command: str, argv: list[str]) -> None:
    assert Stage("s", "command", "s", command=command).argv() == argv
