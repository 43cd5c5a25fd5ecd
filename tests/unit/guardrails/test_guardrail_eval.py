"""eval: real pytest runs of eval fixtures (and real commands) through the orchestrator."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from guardrails.eval_harness import NOT_CONFIGURED, EvalGuardrail
from tests.helpers.repos import SessionFactory, rules, write

TASK = "0303-demo-task"

PASSING = """\
import os

import pytest


def test_exact_match():
    assert "paris" == "paris"


def test_nested_runs_are_not_recorded():
    assert os.environ.get("MCP_RUNNER_TASK_ID") == ""


@pytest.mark.parametrize("score", [0.9, 1.0])
def test_threshold(score):
    assert score >= 0.9


def test_not_ready():
    pytest.skip("dataset not downloaded")
"""

FAILING = """\
import pytest


def test_passes():
    assert True


def test_accuracy():
    accuracy = 0.5
    assert accuracy >= 0.9, f"accuracy {accuracy} is below 0.9"


class TestRecall:
    def test_recall(self):
        assert [1, 2] == [1, 3]


@pytest.fixture
def dataset():
    raise RuntimeError("dataset missing")


def test_with_dataset(dataset):
    pass
"""


def run(
    session_factory: SessionFactory, root: Path, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    config = {"guardrails": {"eval": settings}} if settings is not None else None
    session, _ = session_factory(root, config=config, task_id=TASK)
    return session.run(EvalGuardrail())


def reports(root: Path) -> list[Path]:
    return sorted(root.glob(".codex-eval-*.xml"))


# --- configuration ------------------------------------------------------------------------------
def test_without_a_harness_it_is_skipped(tmp_path: Path, guardrail_session: SessionFactory) -> None:
    write(tmp_path, {"evals/test_a.py": PASSING})  # present, but not configured
    record = run(guardrail_session, tmp_path)
    assert (record["status"], record["summary"]) == ("skipped", NOT_CONFIGURED)
    assert record["approvals"] == []


def test_invalid_settings_fail_with_a_one_line_error(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    record = run(guardrail_session, tmp_path, {"pytest": "evals", "timeout_seconds": -1})
    [finding] = record["findings"]
    assert finding["rule"] == "guardrail/error"
    assert finding["message"] == (
        "guardrails.eval.timeout_seconds must be a positive number of seconds, not -1"
    )


# --- pytest mode -------------------------------------------------------------------------------
def test_passing_eval_fixtures_pass_with_counts(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"evals/test_quality.py": PASSING})
    record = run(guardrail_session, tmp_path, {"pytest": "evals/"})
    assert record["status"] == "passed", record["findings"]
    assert record["summary"] == "evals: 4 passed, 1 skipped"
    [approval] = record["approvals"]
    assert approval["argv"][:3] == [sys.executable, "-m", "pytest"]
    assert "-p" in approval["argv"] and "no:codex" in approval["argv"]
    assert approval["argv"][-1] == "evals/"
    # The JUnit report was written inside the workspace and removed afterwards; the nested
    # pytest recorded no run of its own.
    assert reports(tmp_path) == []
    assert sorted(p.name for p in (tmp_path / ".runs" / TASK).iterdir()) == ["guardrail-cache"]


def test_each_failing_eval_is_a_finding_with_path_line_and_assertion(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"evals/test_model.py": FAILING})
    record = run(guardrail_session, tmp_path, {"pytest": ["evals/test_model.py"]})
    assert record["status"] == "failed"
    hint = "run the eval with pytest to see the full report"
    assert record["findings"] == [
        {
            "rule": "eval/failed",
            "path": "evals/test_model.py",
            "line": 8,
            "message": "evals/test_model.py::test_accuracy: "
            "AssertionError: accuracy 0.5 is below 0.9",
            "hint": hint,
            "severity": "error",
        },
        {
            "rule": "eval/failed",
            "path": "evals/test_model.py",
            "line": 14,
            "message": "evals/test_model.py::TestRecall::test_recall: assert [1, 2] == [1, 3]",
            "hint": hint,
            "severity": "error",
        },
        {
            "rule": "eval/error",
            "path": "evals/test_model.py",
            "line": 23,
            "message": "evals/test_model.py::test_with_dataset: "
            'failed on setup with "RuntimeError: dataset missing"',
            "hint": hint,
            "severity": "error",
        },
    ]
    assert record["summary"] == "evals: 1 passed, 2 failed, 1 error"
    assert reports(tmp_path) == []


def test_an_eval_module_that_cannot_be_imported_is_an_error(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"evals/test_broken.py": "import no_such_eval_dependency\n"})
    record = run(guardrail_session, tmp_path, {"pytest": "evals"})
    [finding] = record["findings"]
    assert (finding["rule"], finding["path"], finding["line"]) == (
        "eval/error",
        "evals/test_broken.py",
        None,
    )
    assert finding["message"] == (
        "evals/test_broken.py: ModuleNotFoundError: No module named 'no_such_eval_dependency'"
    )


def test_missing_eval_fixtures_are_a_finding(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    record = run(guardrail_session, tmp_path, {"pytest": ["evals/", "more_evals/test_x.py::t"]})
    assert record["status"] == "failed"
    assert record["findings"] == [
        {
            "rule": "eval/missing-fixtures",
            "path": path,
            "line": None,
            "message": f"eval fixtures {target} do not exist",
            "hint": "create them, or fix guardrails.eval.pytest (paths are relative to the "
            "repository root)",
            "severity": "error",
        }
        for path, target in [
            ("evals/", "evals/"),
            ("more_evals/test_x.py", "more_evals/test_x.py::t"),
        ]
    ]
    assert record["approvals"] == []  # pytest did not run


def test_existing_fixtures_still_run_next_to_a_missing_path(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"evals/test_model.py": FAILING})
    record = run(guardrail_session, tmp_path, {"pytest": ["evals/", "gone/"]})
    assert rules(record) == ["eval/missing-fixtures", "eval/failed", "eval/failed", "eval/error"]
    [approval] = record["approvals"]
    assert approval["argv"][-1] == "evals/"


def test_no_collected_fixtures_is_skipped(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"evals/helpers.py": "THRESHOLD = 0.9\n"})
    record = run(guardrail_session, tmp_path, {"pytest": "evals/"})
    assert (record["status"], record["summary"]) == (
        "skipped",
        "no eval fixtures collected under evals/",
    )


def test_pytest_failing_without_a_failing_eval_is_a_harness_error(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"evals/test_quality.py": PASSING})
    record = run(guardrail_session, tmp_path, {"pytest": "evals/test_quality.py::no_such_test"})
    [finding] = record["findings"]
    assert finding["rule"] == "eval/harness-error"
    assert finding["message"].startswith("pytest exited with status 4 without reporting")
    assert "no match" in finding["message"]  # pytest's own last line of output


# --- command mode ------------------------------------------------------------------------------
def test_a_passing_eval_command_passes(tmp_path: Path, guardrail_session: SessionFactory) -> None:
    command = [sys.executable, "-c", "print('score 0.97')"]
    record = run(guardrail_session, tmp_path, {"command": command})
    assert (record["status"], record["summary"]) == ("passed", "eval command passed")
    assert record["approvals"][0]["argv"] == command


def test_a_failing_eval_command_names_its_exit_status_and_last_line(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    script = (
        "import sys\nprint('score 0.40')\nsys.stderr.write('score below 0.9\\n\\n')\nsys.exit(3)\n"
    )
    write(tmp_path, {"score.py": script})
    command = f"{shlex.quote(sys.executable)} score.py --threshold 0.9"
    record = run(guardrail_session, tmp_path, {"command": command})
    assert record["status"] == "failed"
    assert record["findings"] == [
        {
            "rule": "eval/command-failed",
            "path": None,
            "line": None,
            "message": f"{command} exited with status 3: score below 0.9",
            "hint": "run the command in the repository root to see why, or fix "
            "guardrails.eval.command",
            "severity": "error",
        }
    ]
    assert record["summary"] == "eval command failed (exit status 3)"


def test_an_eval_command_that_runs_too_long_times_out(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    command = [sys.executable, "-c", "import time; time.sleep(30)"]
    record = run(guardrail_session, tmp_path, {"command": command, "timeout_seconds": 0.3})
    [finding] = record["findings"]
    assert finding["rule"] == "eval/timeout"
    assert finding["message"] == f"{shlex.join(command)} did not finish within 0.3 seconds"


def test_fixtures_and_a_command_both_run(tmp_path: Path, guardrail_session: SessionFactory) -> None:
    write(tmp_path, {"evals/test_quality.py": PASSING})
    settings = {"pytest": "evals", "command": [sys.executable, "-c", "pass"]}
    record = run(guardrail_session, tmp_path, settings)
    assert record["status"] == "passed"
    assert record["summary"] == "evals: 4 passed, 1 skipped; eval command passed"
    assert len(record["approvals"]) == 2


# --- caching -----------------------------------------------------------------------------------
def test_results_are_cached_until_an_input_changes(
    tmp_path: Path, guardrail_session: SessionFactory
) -> None:
    write(tmp_path, {"evals/test_model.py": FAILING, "README.md": "not an input\n"})
    session, emitter = guardrail_session(
        tmp_path, config={"guardrails": {"eval": {"pytest": "evals/"}}}, task_id=TASK
    )
    first = session.run(EvalGuardrail())
    write(tmp_path, {"README.md": "still not an input\n"})
    second = session.run(EvalGuardrail())
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["findings"] == first["findings"] and second["status"] == "failed"
    assert len(emitter.of_type("tool:complete")) == 1

    write(tmp_path, {"evals/test_model.py": PASSING})
    third = session.run(EvalGuardrail())
    assert third["cached"] is False
    assert (third["status"], third["summary"]) == ("passed", "evals: 4 passed, 1 skipped")

    write(tmp_path, {"evals/data.json": '{"expected": "paris"}\n'})  # a new fixture file
    assert session.run(EvalGuardrail())["cached"] is False
