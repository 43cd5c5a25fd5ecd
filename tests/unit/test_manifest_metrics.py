"""A run's metrics are counted from its own records, not taken from the last orchestrator."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_codex.approvals import ApprovalCache, ScriptedApprover
from pytest_codex.context import Context
from pytest_codex.orchestrator import PythonCall, ToolOrchestrator
from pytest_codex.paths import ROOT_ENV
from pytest_codex.run import Run

TASK = "1616-metric-ledger"


def _calls(run: Run) -> ToolOrchestrator:
    """An orchestrator of ``run`` with its own session cache: two approval-requiring calls,
    the first asked, the second answered by the cache."""
    orchestrator = ToolOrchestrator.for_run(
        run, approver=ScriptedApprover([("approve", "session")]), cache=ApprovalCache()
    )
    for _ in range(2):
        orchestrator.invoke(PythonCall(len, ("ab",), name="count", requires_approval=True))
    return orchestrator


def test_two_orchestrators_of_one_run_are_counted_together(tmp_path: Path) -> None:
    context = Context.load(cwd=tmp_path, env={ROOT_ENV: str(tmp_path)})
    run = Run.start(context, task_id=TASK, heartbeat=False)
    first, second = _calls(run), _calls(run)
    assert first.metrics()["approvalRequests"] == second.metrics()["approvalRequests"] == 2
    run.finish("succeeded")
    manifest = json.loads(run.paths.manifest.read_text())
    assert manifest["metrics"]["approvalRequests"] == 4
    assert manifest["metrics"]["cacheHits"] == 2
    assert manifest["metrics"]["approvalReuse"] == 0.5
    task = json.loads(run.paths.metrics.read_text())
    assert task["approvals"] == {"requests": 4, "cacheHits": 2, "approvalReuse": 0.5}


def test_a_resumed_run_replaces_its_contribution_to_the_task_metrics(tmp_path: Path) -> None:
    context = Context.load(cwd=tmp_path, env={ROOT_ENV: str(tmp_path)})
    run = Run.start(context, task_id=TASK, heartbeat=False)
    _calls(run)
    run.finish("succeeded")
    again = Run.resume(context, run.run_id, task_id=TASK, reopen=True, heartbeat=False)
    _calls(again)
    again.finish("succeeded")
    other = Run.start(context, task_id=TASK, heartbeat=False)
    other.finish("failed")
    task = json.loads(run.paths.metrics.read_text())
    assert task["runs"] == 2 and task["byStatus"] == {"succeeded": 1, "failed": 1}
    assert task["approvals"]["requests"] == 4 and task["approvals"]["cacheHits"] == 2
    assert set(task["perRun"]) == {run.run_id, other.run_id}
