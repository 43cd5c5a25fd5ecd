"""``runs list`` columns (pipeline, duration; stale runs that keep the columns aligned and
the lines in the terminal's width) and what ``runs show`` says about failed tests and
guardrail findings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pytest_codex.cli.runs import format_duration
from pytest_codex.context import Context
from pytest_codex.paths import ROOT_ENV
from pytest_codex.run import Run
from pytest_codex.timeutil import format_timestamp
from tests.helpers.trust import trusted

TASK = "1717-a-rather-long-task-name-for-the-column"
CLI = [sys.executable, "-m", "pytest_codex.cli"]


def _cli(root: Path, *argv: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env[ROOT_ENV] = str(root)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [*CLI, *argv], cwd=root, env=env, capture_output=True, text=True, check=False, timeout=300
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "view"
    root.mkdir()
    return root


def _stale_run(root: Path) -> Run:
    """A run that started three hours ago and stopped beating (its process died)."""
    context = Context.load(cwd=root, env={ROOT_ENV: str(root)})
    run = Run.start(context, task_id=TASK, heartbeat=False, pipeline_id="diagnostics")
    then = format_timestamp(datetime.now(UTC) - timedelta(hours=3, minutes=7))
    # Through the run's own manifest writer: a pending throttled write of the live run
    # object must not put the present back.
    run.manifest.document.update(startedAt=then, heartbeatAt=then, updatedAt=then)
    run.manifest.write()
    return run


def test_list_shows_pipeline_and_duration_and_a_stale_run_stays_in_its_columns(
    repo: Path,
) -> None:
    context = Context.load(cwd=repo, env={ROOT_ENV: str(repo)})
    with Run.start(context, task_id=TASK, heartbeat=False, pipeline_id="exec") as done:
        pass
    stale = _stale_run(repo)
    listing = _cli(repo, "runs", "list", columns=80)
    assert listing.returncode == 0, listing.stderr
    head, *lines = listing.stdout.splitlines()
    assert [line.split()[0] for line in lines] == sorted([done.run_id, stale.run_id])
    assert "PIPELINE" in head and "DURATION" in head
    assert all(len(line) <= 80 for line in [head, *lines])
    by_id = {line.split()[0]: line for line in lines}
    assert " stale " in by_id[stale.run_id] and by_id[stale.run_id].endswith(" 3h07m")
    assert " diagnostics " in by_id[stale.run_id] and " exec " in by_id[done.run_id]
    assert " succeeded " in by_id[done.run_id]
    # Every column starts where its header does, on every line.
    for name in ("PIPELINE", "STATUS"):
        column = head.index(name)
        assert all(line[column - 1] == " " and line[column] != " " for line in lines)
    assert all(line.rindex(" ") < len(line) - 1 for line in lines)
    # Piped without COLUMNS: no line is cut to a width, and the counts are there too.
    piped_head, *piped = _cli(repo, "runs", "list").stdout.splitlines()
    assert piped_head.split()[-2:] == ["TESTS", "CMDS"]
    status = piped_head.index("STATUS")
    assert sorted(line[status:].split()[0] for line in piped) == ["stale", "succeeded"]
    rows = json.loads(_cli(repo, "runs", "list", "--format", "json").stdout)
    assert [r["stale"] for r in rows if r["runId"] == stale.run_id] == [True]
    assert all(isinstance(r["durationSeconds"], float) for r in rows)


def test_durations_fit_their_column() -> None:
    cases = [
        (0.42, "0.42s"),
        (12.3, "12.3s"),
        (184, "3m04s"),
        (7500, "2h05m"),
        (3 * 86400, "3d00h"),
    ]
    assert [format_duration(s) for s, _ in cases] == [text for _, text in cases]
    assert format_duration(None) == "-"
    assert max(len(format_duration(10.0**k)) for k in range(-3, 9)) <= 8


FAILING = """
def test_good():
    assert True

def test_bad():
    value = 41
    assert value + 1 == 43, "the answer\\nis wrong"
"""

DIRTY = """
from guardrails import Finding, Guardrail, Result, hookimpl


class Dirty(Guardrail):
    name = "dirty"
    def run(self, ctx):
        return Result.from_findings(
            [Finding("dirty/xxx", "XXX marker left\\nsecond line", "src/app.py", 3, "finish it")]
        )


@hookimpl
def codex_guardrails():
    return [Dirty()]
"""


def test_show_lists_failed_tests_and_guardrail_findings(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "test_mixed.py").write_text(FAILING)
    # A guardrail installed beside the orchestrator (the CLI imports none from the workspace).
    plugins = repo.parent / "plugins"
    plugins.mkdir()
    (plugins / "local_guardrails.py").write_text(DIRTY)
    trusted(repo / "codex.orchestrator.yaml", "guardrails:\n  plugins: [local_guardrails]\n")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(plugins), *filter(None, [os.getenv("PYTHONPATH")])])
    )
    env = {**os.environ, ROOT_ENV: str(repo)}
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", f"--codex-task={TASK}", "--codex-guardrails=none",
         "-p", "no:cacheprovider", "-q", "test_mixed.py"],
        cwd=repo, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert tested.returncode == 1, tested.stdout + tested.stderr
    shown = _cli(repo, "runs", "show", "latest", "--task", TASK)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    at = lines.index("  failed test_mixed.py::test_bad")
    assert lines[at + 1].strip().startswith("AssertionError: the answer")
    assert "test_good" not in shown.stdout

    guarded = _cli(repo, "guardrails", "run", "dirty", "--task", TASK)
    assert guarded.returncode == 1, guarded.stderr
    shown = _cli(repo, "runs", "show", "latest", "--task", TASK)
    assert "    src/app.py:3 dirty/xxx XXX marker left" in shown.stdout.splitlines()
    assert "second line" not in shown.stdout
