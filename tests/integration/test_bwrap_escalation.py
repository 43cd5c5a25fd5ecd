"""End to end on a real run: a bwrap denial is detected, escalated with approval, remembered.

Real processes, real bubblewrap, a real :class:`~pytest_codex.run.Run` (its manifest is built
from the orchestrator's events only).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.approvals import ApprovalCache, ScriptedApprover, approvals_path
from pytest_codex.context import Context
from pytest_codex.orchestrator import ToolOrchestrator
from pytest_codex.paths import ROOT_ENV
from pytest_codex.run import Run
from pytest_codex.sandbox import probe_bubblewrap
from pytest_codex.schemas import iter_errors

BWRAP = probe_bubblewrap()
pytestmark = pytest.mark.skipif(
    BWRAP.backend != "bubblewrap", reason=f"bubblewrap cannot sandbox here: {BWRAP.reason}"
)
TASK = "bwrap-escalation"
SECRET = "supersecretvalue"


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    root = tmp_path / "repo"
    root.mkdir()
    context = Context.load(cwd=root, env={ROOT_ENV: str(root)})
    started = Run.start(context, task_id=TASK, runner="pytest", heartbeat=False)
    yield started
    if not started.finished:
        started.finish("succeeded")


@pytest.fixture
def outside_dir() -> Iterator[Path]:
    # Not under /tmp: inside the sandbox /tmp is a private tmpfs where writes would succeed.
    path = Path(tempfile.mkdtemp(prefix="codex-outside-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def events_of(run: Run) -> list[dict[str, Any]]:
    lines = run.paths.events.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_denied_write_is_escalated_after_approval_then_served_from_cache(
    run: Run, outside_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", SECRET)
    target = outside_dir / "out.txt"
    argv = ["sh", "-c", f'echo written > {target} && test -n "$1"', "sh", SECRET]
    approver = ScriptedApprover([("approve", "task")])
    orchestrator = ToolOrchestrator.for_run(run, approver=approver)
    assert orchestrator.sandbox.mode == "workspace-write" and orchestrator.sandbox.enforced

    first = orchestrator.run(argv)
    assert first.ok and target.read_text() == "written\n"
    record = first.record
    assert (record["retryCount"], record["sandboxState"], record["approvalSource"]) == (
        1,
        "escalated",
        "prompt",
    )
    denied, succeeded = record["attempts"]
    assert (denied["state"], denied["sandbox"]) == ("denied", "workspace-write")
    assert (succeeded["state"], succeeded["sandbox"]) == ("succeeded", "danger-full-access")
    evidence = denied["denialEvidence"]
    assert evidence is not None
    assert "read-only-file-system" in evidence["signals"] and str(target) in evidence["paths"]
    assert evidence["exitCode"] == denied["exitCode"] != 0
    assert approver.asked == 1
    assert approver.requests[0].kind == "escalate"
    assert approver.requests[0].permissions == {"write-outside-workspace", "network"}

    target.unlink()
    second = orchestrator.run(argv)
    assert second.ok and target.exists() and approver.asked == 1
    assert (second.record["approvalSource"], second.record["retryCount"]) == ("cache", 1)
    assert orchestrator.metrics() == {
        "approvalRequests": 2,
        "cacheHits": 1,
        "approvalReuse": 0.5,
        "retries": 2,
    }

    # Task scope: a new orchestrator (a later run) needs no prompt either.
    later = ScriptedApprover()
    fresh = ToolOrchestrator.for_run(
        run, approver=later, cache=ApprovalCache.for_task(run.paths.runs_dir, TASK)
    )
    assert fresh.run(argv).record["approvalSource"] == "cache" and later.asked == 0

    manifest = run.manifest.document
    assert [r["approvalSource"] for r in manifest["toolRuns"]] == ["prompt", "cache", "cache"]
    assert len(manifest["approvals"]) == 1
    approval = manifest["approvals"][0]
    assert (approval["source"], approval["scope"], approval["approver"]) == (
        "prompt",
        "task",
        "prompt:scripted",
    )
    assert manifest["approvalProfile"]["sandboxBackend"]["backend"] == "bubblewrap"
    run.finish("succeeded")
    document = json.loads(run.paths.manifest.read_text(encoding="utf-8"))
    assert [e.message for e in iter_errors("manifest", document)] == []
    events = events_of(run)
    assert all(not list(iter_errors("event", event)) for event in events)
    types = [event["type"] for event in events]
    assert types.count("tool:retry") == 3 and types.count("approval:requested") == 1

    stored = approvals_path(run.paths.runs_dir, TASK).read_text(encoding="utf-8")
    everything = stored + run.paths.events.read_text() + run.paths.manifest.read_text()
    assert SECRET not in everything
