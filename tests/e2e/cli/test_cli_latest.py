"""``latest`` is the latest top-level run: the pytest run a command of an ``exec`` run
records is its child (``parentRunId``), never what ``latest`` names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pytest_codex.manifest import load_manifest
from pytest_codex.paths import ROOT_ENV, TASK_ENV

TASK = "1717-latest"
CLI = [sys.executable, "-m", "pytest_codex.cli"]


def _cli(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != TASK_ENV}
    env[ROOT_ENV] = str(root)
    return subprocess.run(
        [*CLI, *argv], cwd=root, env=env, capture_output=True, text=True, check=False, timeout=300
    )


def test_after_exec_pytest_latest_is_the_exec_run_and_the_pytest_run_is_its_child(
    tmp_path: Path,
) -> None:
    root = tmp_path / "nested"
    root.mkdir()
    (root / "test_one.py").write_text("def test_one():\n    assert True\n")
    done = _cli(
        root, "exec", "--task", TASK, "--sandbox", "danger-full-access", "--", sys.executable,
        "-m", "pytest",
        "-q", "-p", "no:cacheprovider", "test_one.py",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifests = sorted((root / ".runs" / TASK / "cli").glob("*/manifest.json"))
    documents = [load_manifest(p) for p in manifests]
    [parent] = [d for d in documents if d["runner"] == "cli"]
    [nested] = [d for d in documents if d["runner"] == "pytest"]
    assert parent["parentRunId"] is None and nested["parentRunId"] == parent["runId"]
    # The nested run started after the exec run: by time it is the newest of the task.
    assert nested["runId"] > parent["runId"]

    shown = _cli(root, "runs", "show", "latest", "--task", TASK, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["runId"] == parent["runId"]
    resumed = _cli(root, "resume", "latest", "--task", TASK, "--reopen", "--", "true")
    assert resumed.returncode == 0, resumed.stderr
    assert len(load_manifest(root / ".runs" / TASK / "cli" / parent["runId"] / "manifest.json")[
        "commands"
    ]) == 2  # fmt: skip
    assert load_manifest(
        root / ".runs" / TASK / "cli" / nested["runId"] / "manifest.json"
    )["resume_events"] == []  # fmt: skip


def test_a_suite_exec_runs_in_the_sandbox_is_recorded_by_the_exec_run_alone(
    tmp_path: Path,
) -> None:
    import shutil

    import pytest

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed: the sandbox the child runs in is the point")
    root = tmp_path / "sandboxed"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "test_one.py").write_text("def test_one():\n    assert True\n")
    done = _cli(
        root, "exec", "--task", TASK, "--sandbox", "workspace-write", "--approval-policy",
        "never", "--", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "test_one.py",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [run] = [
        load_manifest(p) for p in sorted((root / ".runs" / TASK / "cli").glob("*/manifest.json"))
    ]
    assert run["status"] == "succeeded" and run["parentRunId"] is None
    [command] = run["commands"]
    assert command["exitCode"] == 0 and command["sandboxState"] == "sandboxed"
    assert "not recorded (inside a sandbox" in Path(command["logPath"]).read_text()
    metrics = json.loads((root / ".runs" / TASK / "metrics.json").read_text())
    assert set(metrics["perRun"]) == {run["runId"]}
    state = json.loads((root / "out" / TASK / "state.json").read_text())
    assert state["run"]["id"] == run["runId"]
