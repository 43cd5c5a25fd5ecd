"""codex-orchestrator start <pipeline> and guardrails list|run, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import schemas
from tests.helpers import REPO_ROOT
from tests.helpers.repos import commit, git, write
from tests.helpers.trust import trusted

CLI = [sys.executable, "-m", "pytest_codex.cli"]

# A guardrail package the team installed beside codex-orchestrator (guardrails.plugins): the
# CLI never imports one from the workspace.
LOCAL_GUARDRAILS = """
from guardrails import Finding, Guardrail, Inputs, Result, hookimpl


class NoXXX(Guardrail):
    name = "no-xxx"
    description = "no XXX markers in src/"

    def inputs(self, ctx):
        return Inputs(globs=("src/*.py",))

    def run(self, ctx):
        findings = [
            Finding("no-xxx/marker", "XXX marker", rel, n, "finish it")
            for rel in ctx.find(["src/*.py"])
            for n, line in enumerate(ctx.path(rel).read_text().splitlines(), start=1)
            if "XXX" in line
        ]
        return Result.from_findings(findings, f"{len(findings)} markers")


@hookimpl
def codex_guardrails():
    return [NoXXX()]
"""

CONFIG = """
guardrails:
  plugins: [local_guardrails]
  enabled: [no-xxx]
pipelines:
  - id: checks
    title: Checks
    stages:
      - {kind: command, id: hello, command: "echo hello from stage"}
      - {kind: command, id: flaky, command: "sh -c 'exit 3'", allowFailure: true}
      - {kind: guardrail, id: markers, guardrail: no-xxx}
      - {kind: command, id: after, command: "echo after"}
  - id: soft
    stages:
      - {kind: guardrail, id: markers, guardrail: no-xxx, dryRun: true}
  - id: nested
    stages:
      - {kind: command, id: suite, command: "PYTHON -m pytest -q -p no:cacheprovider checks"}
  - id: broken
    stages:
      - {kind: guardrail, id: nope, guardrail: does-not-exist}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "local_guardrails.py").write_text(LOCAL_GUARDRAILS)
    git(root, "init", "-q", "-b", "main")
    write(
        root,
        {
            "codex.orchestrator.yaml": CONFIG.replace("PYTHON", sys.executable),
            "checks/test_nested.py": (
                "def test_in_the_task(codex_run):\n    assert codex_run.task_id == 'pipe-task'\n"
            ),
            "src/app.py": "x = 1\n",
            ".gitignore": ".runs/\nout/\n__pycache__/\n",
        },
    )
    commit(root, "init")
    trusted(root / "codex.orchestrator.yaml")  # a person reviewed its pipelines and guardrails
    return root


def cli(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_", "OTEL_"))}
    environ.update(
        CODEX_ORCHESTRATOR_ROOT=str(repo),
        MCP_RUNNER_TASK_ID="pipe-task",
        PYTHONPATH=os.pathsep.join([str(repo.parent / "plugins"), str(repo)]),
    )
    environ.update(env)
    return subprocess.run(
        [*CLI, *args], cwd=repo, env=environ, capture_output=True, text=True, timeout=300
    )


def _manifest(repo: Path) -> dict[str, Any]:
    [path] = sorted((repo / ".runs" / "pipe-task" / "cli").glob("*/manifest.json"))[-1:]
    document: dict[str, Any] = json.loads(path.read_text())
    schemas.validate("manifest", document)
    return document


def _event_types(manifest: dict[str, Any]) -> list[str]:
    lines = Path(manifest["paths"]["events"]).read_text().splitlines()
    return [json.loads(line)["type"] for line in lines]


def test_stages_run_in_order_and_land_in_the_manifest(repo: Path) -> None:
    result = cli(repo, "start", "checks", "--format", "json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    schemas.validate("summary", summary)
    assert summary["status"] == "succeeded"
    assert [(s["id"], s["status"]) for s in summary["stages"]] == [
        ("hello", "succeeded"),
        ("flaky", "allowed-failure"),
        ("markers", "succeeded"),
        ("after", "succeeded"),
    ]
    assert summary["stages"][1]["exitCode"] == 3
    assert summary["guardrails"] == {"no-xxx": "passed"}
    manifest = _manifest(repo)
    assert manifest["pipelineId"] == "checks" and manifest["status"] == "succeeded"
    assert [s["id"] for s in manifest["stages"]] == ["hello", "flaky", "markers", "after"]
    assert [g["name"] for g in manifest["guardrails"]] == ["no-xxx"]
    types = [t for t in _event_types(manifest) if t.startswith("stage:")]
    assert types == ["stage:start", "stage:end"] * 4
    # Command stages ran through the exec runtime: their output is in their logs.
    log = Path(manifest["stages"][0]["logPath"])
    assert "hello from stage" in log.read_text()


def test_a_failing_guardrail_stage_fails_the_pipeline_and_skips_the_rest(repo: Path) -> None:
    write(repo, {"src/app.py": "x = 1  # XXX\n"})
    result = cli(repo, "start", "checks")
    assert result.returncode == 1
    # Text mode streams each stage and shows the findings.
    lines = result.stdout.splitlines()
    assert "==> [1/4] hello: echo hello from stage" in lines
    assert "hello from stage" in lines
    assert any(line.startswith("<== [2/4] flaky: allowed-failure") for line in lines)
    assert "      src/app.py:1: no-xxx/marker: XXX marker (hint: finish it)" in lines
    assert any(line.startswith("<== [3/4] markers: failed") for line in lines)
    assert "<== [4/4] after: skipped (0.00s) - an earlier stage failed" in lines
    assert lines[-1].startswith("checks: failed (stage markers failed); manifest: .runs/")
    manifest = _manifest(repo)
    assert manifest["status"] == "failed"
    assert [s["status"] for s in manifest["stages"]] == [
        "succeeded",
        "allowed-failure",
        "failed",
        "skipped",
    ]
    assert manifest["guardrails"][0]["findings"][0]["line"] == 1


def test_a_dry_run_stage_reports_findings_without_failing(repo: Path) -> None:
    write(repo, {"src/app.py": "x = 1  # XXX\n"})
    result = cli(repo, "start", "soft", "--format", "json")
    assert result.returncode == 0, result.stderr
    [record] = _manifest(repo)["guardrails"]
    assert (record["status"], record["rawStatus"], record["dryRun"]) == ("warned", "failed", True)


def test_an_unchanged_repository_reuses_guardrail_results_across_runs(repo: Path) -> None:
    cli(repo, "start", "soft")
    first = _manifest(repo)["guardrails"][0]
    cli(repo, "start", "soft")
    second = _manifest(repo)["guardrails"][0]
    cli(repo, "start", "soft", "--no-cache")
    third = _manifest(repo)["guardrails"][0]
    assert (first["cached"], second["cached"], third["cached"]) == (False, True, False)


def test_a_suite_run_by_a_stage_is_recorded_by_the_pipeline_run_only(repo: Path) -> None:
    result = cli(repo, "start", "nested", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = json.loads(result.stdout)["run"]["id"]
    manifests = [
        json.loads(p.read_text())
        for p in sorted((repo / ".runs" / "pipe-task" / "cli").glob("*/manifest.json"))
    ]
    # The suite ran in the sandbox as a private run of the task (its fixtures work), and
    # nothing of it reached the runs directory, which is read-only in there.
    assert [m["runId"] for m in manifests] == [run_id]
    [stage] = manifests[0]["commands"]
    assert stage["exitCode"] == 0
    log = Path(stage["logPath"]).read_text()
    assert "1 passed" in log and "not recorded (inside a sandbox" in log


def test_unknown_pipelines_and_guardrails_are_usage_errors_that_write_nothing(
    repo: Path,
) -> None:
    unknown = cli(repo, "start", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "codex-orchestrator: error: unknown pipeline 'nope'; known pipelines: broken, checks, "
        "diagnostics, diagnostics-with-eval, nested, soft"
    ]
    broken = cli(repo, "start", "broken")
    assert broken.returncode == 2
    assert "uses unknown guardrail 'does-not-exist'; available: " in broken.stderr
    no_task = cli(repo, "start", "checks", MCP_RUNNER_TASK_ID="")
    assert no_task.returncode == 2 and "no task id" in no_task.stderr
    assert not (repo / ".runs").exists()


def test_guardrails_list_and_run(repo: Path) -> None:
    listing = cli(repo, "guardrails", "list", "--format", "json")
    assert listing.returncode == 0, listing.stderr
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["no-xxx"]["enabled"] is True and rows["lint"]["enabled"] is False
    write(repo, {"src/app.py": "# XXX\n"})
    run = cli(repo, "guardrails", "run", "--format", "json")
    assert run.returncode == 1
    summary = json.loads(run.stdout)
    assert summary["guardrails"] == {"no-xxx": "failed"}
    assert _manifest(repo)["pipelineId"] == "guardrails"
    dry = cli(repo, "guardrails", "run", "no-xxx", "--dry-run", "--format", "json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["guardrails"] == {"no-xxx": "warned"}
    unknown = cli(repo, "guardrails", "run", "nope")
    assert unknown.returncode == 2 and "unknown guardrail 'nope'" in unknown.stderr


DEMO = REPO_ROOT / "examples" / "demo-repo"


@pytest.mark.parametrize(
    ("pipeline", "stages"),
    [
        ("diagnostics", ["build", "lint", "test", "spec-guard"]),
        ("diagnostics-with-eval", ["build", "lint", "test", "eval", "spec-guard"]),
    ],
)
def test_the_builtin_diagnostics_pipelines_pass_on_the_demo_repository(
    tmp_path: Path, pipeline: str, stages: list[str]
) -> None:
    import datetime as dt
    import re
    import shutil

    root = tmp_path / "demo"
    shutil.copytree(DEMO, root)
    for spec in (root / "tasks" / "specs").glob("*.md"):  # reviewed today
        text = re.sub(r"last_review: .*", f"last_review: {dt.date.today()}", spec.read_text())
        spec.write_text(text)
    git(root, "init", "-q", "-b", "main")
    commit(root, "demo")
    trusted(root / "codex.orchestrator.yaml")  # as examples/demo.py does
    result = cli(
        root,
        "start",
        pipeline,
        "--format",
        "json",
        MCP_RUNNER_TASK_ID="0303-orchestrator-autonomy",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert [(s["id"], s["status"]) for s in summary["stages"]] == [
        (stage, "succeeded") for stage in stages
    ]
    expected = {"lint": "passed", "spec-guard": "passed"}
    if "eval" in stages:
        expected["eval"] = "passed"
    assert summary["guardrails"] == expected
    # The test stage's suite ran in the sandbox, where nothing is recorded of its own: this
    # run recorded the stage's command, with its exit status from the kernel.
    [run] = [
        json.loads(p.read_text())
        for p in (root / ".runs" / "0303-orchestrator-autonomy" / "cli").glob("*/manifest.json")
    ]
    assert run["runId"] == summary["run"]["id"] and run["runner"] == "cli"
    [test] = [c for c in run["commands"] if "pytest" in " ".join(c["argv"])]
    assert test["exitCode"] == 0 and test["sandboxState"] == "sandboxed"
    log = Path(test["logPath"]).read_text()
    assert "passed" in log and "not recorded (inside a sandbox" in log


def test_spec_guard_command_fails_on_code_without_a_spec_and_dry_run_only_reports(
    repo: Path,
) -> None:
    write(repo, {"src/new_module.py": "x = 1\n"})  # code changed since the root commit
    strict = cli(repo, "spec-guard", "--format", "json")
    assert strict.returncode == 1
    assert json.loads(strict.stdout)["guardrails"] == {"spec-guard": "failed"}
    [record] = _manifest(repo)["guardrails"]
    assert [(f["rule"], f["path"]) for f in record["findings"]] == [
        ("spec-guard/code-without-spec", "src/new_module.py")
    ]
    dry = cli(repo, "spec-guard", "--dry-run", "--format", "json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["guardrails"] == {"spec-guard": "warned"}
