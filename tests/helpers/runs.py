"""Real runs for evidence tests: a run that executed one command, finished with a status."""

from __future__ import annotations

from pathlib import Path

from pytest_codex.context import Context
from pytest_codex.execution import execute_command
from pytest_codex.paths import ROOT_ENV
from pytest_codex.run import Run


def run_with_command(
    root: Path,
    task: str,
    status: str = "succeeded",
    *,
    run_id: str | None = None,
    argv: tuple[str, ...] = ("true",),
    env: dict[str, str] | None = None,
) -> Run:
    """Start a real run of ``task`` in ``root``, execute ``argv`` in it, finish it."""
    run = Run.start(
        Context.load(cwd=root, env={ROOT_ENV: str(root), **(env or {})}),
        task_id=task,
        heartbeat=False,
        run_id=run_id,
    )
    execute_command(run, list(argv), cwd=root, mode="pipe")
    run.finish(status)
    return run
