"""codex-orchestrator doctor through the real console script: text, JSON and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_codex.sandbox import FEATURES, probe_bubblewrap

CLI = [sys.executable, "-m", "pytest_codex.cli"]
BWRAP = probe_bubblewrap()
requires_bwrap = pytest.mark.skipif(
    BWRAP.backend != "bubblewrap", reason=f"bubblewrap cannot sandbox here: {BWRAP.reason}"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def doctor(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
    base.update({"CODEX_ORCHESTRATOR_ROOT": str(repo), "MCP_RUNNER_TASK_ID": "doc-task"})
    base.update(env)
    return subprocess.run(
        [*CLI, "doctor", *args], cwd=repo, env=base, capture_output=True, text=True, timeout=120
    )


@requires_bwrap
def test_doctor_json_reports_bwrap_features_and_paths_and_exits_0(repo: Path) -> None:
    done = doctor(repo, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["problems"] == []
    assert report["bubblewrap"]["backend"] == "bubblewrap"
    assert report["bubblewrap"]["version"]
    assert [f["name"] for f in report["features"]] == list(FEATURES)
    paths = {entry["name"]: entry for entry in report["paths"]}
    assert paths["approval store"]["path"] == str(repo / ".runs" / "doc-task" / "approvals.json")
    assert paths["repository .git"]["sandbox"] == "read"
    assert paths["runs directory"]["sandbox"] == "read"
    assert paths["workspace"]["sandbox"] == "write"
    assert paths["signing material and user config"]["path"].endswith("pytest-codex")


@requires_bwrap
def test_doctor_text_names_every_check_and_the_verdict(repo: Path) -> None:
    done = doctor(repo, "-s", "read-only")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "bubblewrap: " in out and BWRAP.version is not None and BWRAP.version in out
    for text in ("user namespace", "PID namespace", "--cap-drop ALL", "network isolation"):
        assert text in out
    assert "workspace: " in out and "-> read" in out
    assert out.rstrip().endswith("the sandbox gives what the configuration asks for")


def test_doctor_exits_1_when_the_sandbox_is_weaker_than_configured(
    repo: Path, tmp_path: Path
) -> None:
    # Without bwrap on PATH there is no sandbox, while the configuration asks for one.
    done = doctor(repo, "--format", "json", PATH=str(tmp_path / "empty-bin"))
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert report["bubblewrap"]["backend"] == "none"
    assert any("unsandboxed" in problem for problem in report["problems"])
    text = doctor(repo, PATH=str(tmp_path / "empty-bin"))
    assert text.returncode == 1
    assert "weaker than the configuration asks for" in text.stdout


def test_doctor_is_content_with_no_sandbox_when_none_is_asked_for(
    repo: Path, tmp_path: Path
) -> None:
    done = doctor(repo, "-s", "danger-full-access", PATH=str(tmp_path / "empty-bin"))
    assert done.returncode == 0, done.stdout + done.stderr
