"""Running a pipeline inside a run: command stages through the exec runtime and the
ToolOrchestrator, guardrail stages through a :class:`~guardrails.GuardrailSession`.

One orchestrator (so one approval cache) and one exec session manager serve every stage.
The run's summary carries the stage records and a ``guardrails`` block (status of each).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..paths import PARENT_RUN_ENV, TASK_ENV
from .model import Pipeline, PipelineResult, Stage, StageOutcome, run_pipeline

if TYPE_CHECKING:
    from guardrails import Guardrail

    from ..handle import RunHandle
    from ..orchestrator import ToolOrchestrator

# Guardrail statuses that let a pipeline go on.
PASSING = frozenset({"passed", "warned", "skipped"})


def resolve_guardrails(
    run_config: Any, pipeline: Pipeline, root: Path | None = None
) -> dict[str, Guardrail]:
    """The guardrail of every guardrail stage (``guardrails.plugins`` imported from the
    repository ``root``); a UsageError naming an unknown one."""
    from guardrails.registry import available

    wanted = [s.guardrail for s in pipeline.stages if s.kind == "guardrail" and s.guardrail]
    if not wanted:
        return {}
    settings = run_config.get("guardrails") or {}
    found = available(settings, root)
    unknown = sorted({name for name in wanted if name not in found})
    if unknown:
        raise UsageError(
            f"pipeline {pipeline.id!r} uses unknown guardrail {', '.join(map(repr, unknown))}; "
            f"available: {', '.join(found) or 'none'}"
        )
    return {name: found[name] for name in wanted}


def execute_pipeline(
    run: RunHandle,
    pipeline: Pipeline,
    *,
    guardrails: Mapping[str, Guardrail],
    use_cache: bool = True,
    dry_run: bool = False,
    orchestrator: ToolOrchestrator | None = None,
    cwd: Path | None = None,
) -> PipelineResult:
    """Run every stage of ``pipeline`` in ``run`` (stage order and skipping: see
    :func:`pytest_codex.pipeline.model.run_pipeline`)."""
    from guardrails import GuardrailSession

    from ..execution import execute_command
    from ..orchestrator import ToolOrchestrator
    from ..runtime import ExecSessionManager
    from ..sandbox import protected_paths

    # Stages may run the suite: the runs and out directories stay read-only in the sandbox (a
    # suite run there records nothing of its own; this run records the stage's command).
    protected = protected_paths(run.paths, config=run.config)
    orchestrator = orchestrator or ToolOrchestrator.for_run(run, protected=protected)
    manager = ExecSessionManager(
        **run.config.settings().exec.manager_options(), secrets=run.config.secret_values()
    )
    workdir = cwd or run.paths.root
    session = GuardrailSession.for_run(run, use_cache=use_cache, dry_run=dry_run)
    session.orchestrator_factory = lambda: orchestrator

    def command(stage: Stage) -> StageOutcome:
        # A command of the run works for the run's task; a run it records is a child run.
        env = {
            TASK_ENV: run.task_id,
            PARENT_RUN_ENV: run.run_id,
            **run.config.child_env(),
            **stage.env,
        }
        execution = execute_command(
            run,
            stage.argv(),
            cwd=workdir,
            env=env,
            timeout=stage.timeout,
            mode="pipe",
            orchestrator=orchestrator,
            manager=manager,
        )
        return StageOutcome(
            ok=execution.status == "succeeded",
            exit_code=execution.exit_code,
            detail=execution.detail,
            extra={"logPath": execution.record.get("logPath")},
        )

    def guardrail(stage: Stage) -> StageOutcome:
        assert stage.guardrail is not None
        stage_session = replace(session, dry_run=True) if stage.dry_run else session
        record = stage_session.run(guardrails[stage.guardrail])
        return StageOutcome(
            ok=record["status"] in PASSING,
            detail=record.get("summary"),
            extra={
                "guardrail": stage.guardrail,
                "guardrailStatus": record["status"],
                "findings": len(record["findings"]),
                "cached": record["cached"],
            },
        )

    try:
        return run_pipeline(run, pipeline, execute={"command": command, "guardrail": guardrail})
    finally:
        manager.close_all()


def pipeline_summary(result: PipelineResult) -> dict[str, Any]:
    """The pipeline parts of ``run:summary``: its stages and each guardrail's status."""
    guardrails = {
        str(stage["guardrail"]): str(stage["guardrailStatus"])
        for stage in result.stages
        if stage.get("guardrail") and stage.get("guardrailStatus")
    }
    return {
        "pipeline": {
            "id": result.pipeline.id,
            "title": result.pipeline.title,
            "source": result.pipeline.source,
        },
        "stages": result.stages,
        "guardrails": guardrails,
    }
