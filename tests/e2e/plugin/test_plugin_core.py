"""The pytest plugin, end to end with pytester."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import schemas

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_guardrail_items(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests pin the run recorder; guardrail items are tested in test_guardrail_items.py."""
    monkeypatch.setenv("CODEX_ORCHESTRATOR_GUARDRAILS", "none")


OUTCOMES = """
import pytest

def test_pass():
    pass

def test_fail():
    assert 1 == 2, "numbers differ"

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed already")
def test_xpass():
    pass

@pytest.fixture
def broken():
    raise RuntimeError("setup exploded")

def test_setup_error(broken):
    pass

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown exploded")

def test_teardown_error(bad_teardown):
    pass

@pytest.mark.slow
def test_marked():
    pass
"""


@pytest.fixture(autouse=True)
def _isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCP_RUNNER_TASK_ID", raising=False)
    monkeypatch.setenv("CODEX_ORCHESTRATOR_ROOT", str(pytester.path))
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow tests\n")


def _manifests(root: Path, task: str) -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text())
        for p in sorted((root / ".runs" / task / "cli").glob("*/manifest.json"))
    ]


def test_without_a_task_the_plugin_does_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert not (pytester.path / ".runs").exists()
    assert "codex:" not in result.stdout.str()


def test_p_no_codex_disables_it_even_with_a_task(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("-p", "no:codex", "--codex-task=t1")
    # The option itself is gone with the plugin, so pytest refuses it.
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not (pytester.path / ".runs").exists()
    clean = pytester.runpytest_subprocess("-p", "no:codex")
    clean.assert_outcomes(passed=1)


def test_every_outcome_kind_is_recorded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES)
    result = pytester.runpytest("--codex-task=outcomes-task")
    result.assert_outcomes(passed=3, failed=1, skipped=1, xfailed=1, xpassed=1, errors=2)
    [manifest] = _manifests(pytester.path, "outcomes-task")
    schemas.validate("manifest", manifest)
    tests = {t["nodeid"].split("::")[1]: t for t in manifest["tests"]}
    assert {name: t["outcome"] for name, t in tests.items()} == {
        "test_pass": "passed",
        "test_fail": "failed",
        "test_skip": "skipped",
        "test_xfail": "xfailed",
        "test_xpass": "xpassed",
        "test_setup_error": "error",
        "test_teardown_error": "error",
        "test_marked": "passed",
    }
    assert "numbers differ" in tests["test_fail"]["failure"]
    assert tests["test_skip"]["failure"] == "not today"
    assert tests["test_xfail"]["failure"] == "xfail: known bug"
    assert "setup exploded" in tests["test_setup_error"]["failure"]
    assert "teardown exploded" in tests["test_teardown_error"]["failure"]
    assert "slow" in tests["test_marked"]["markers"]
    assert tests["test_fail"]["location"] == {
        "path": "test_outcomes.py",
        "line": 6,
        "domain": "test_fail",
    }
    assert all(t["durationMs"] >= 0 for t in tests.values())
    assert manifest["status"] == "failed"
    assert manifest["statusDetail"] == "pytest exited with TESTS_FAILED (1)"
    assert manifest["summary"]["tests"]["total"] == 8
    manifest_path = Path(manifest["paths"]["manifest"])
    result.stdout.fnmatch_lines(
        [f"codex: run {manifest['runId']} failed; manifest: {manifest_path}"]
    )


def test_a_green_session_is_a_succeeded_run_with_all_its_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass")
    result = pytester.runpytest("--codex-task=green")
    assert result.ret == 0
    [manifest] = _manifests(pytester.path, "green")
    assert manifest["status"] == "succeeded" and manifest["completedAt"] is not None
    assert manifest["runner"] == "pytest" and manifest["pipelineId"] == "pytest"
    run_dir = Path(manifest["paths"]["runDir"])
    assert (run_dir / "events.jsonl").is_file()
    metrics = json.loads((pytester.path / ".runs" / "green" / "metrics.json").read_text())
    assert metrics["runs"] == 1 and metrics["tests"] == {"passed": 2}
    state = json.loads((pytester.path / "out" / "green" / "state.json").read_text())
    assert state["run"]["id"] == manifest["runId"] and state["status"] == "succeeded"


def test_the_task_can_come_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_RUNNER_TASK_ID", "from-env")
    pytester.makepyfile("def test_a(): pass")
    pytester.runpytest().assert_outcomes(passed=1)
    [manifest] = _manifests(pytester.path, "from-env")
    assert manifest["environment"]["MCP_RUNNER_TASK_ID"] == "from-env"
    assert manifest["config"]["task"] == {"value": "from-env", "source": "env:MCP_RUNNER_TASK_ID"}


def test_the_flag_beats_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_RUNNER_TASK_ID", "from-env")
    pytester.makepyfile("def test_a(): pass")
    pytester.runpytest("--codex-task=from-flag").assert_outcomes(passed=1)
    assert _manifests(pytester.path, "from-flag")
    assert not (pytester.path / ".runs" / "from-env").exists()


def test_xdist_records_every_test_exactly_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_many="""
import pytest

@pytest.mark.parametrize("n", range(250))
def test_n(n, codex_run):
    codex_run.emit("demo:seen", {"n": n})
    assert n % 50 != 49
"""
    )
    result = pytester.runpytest_subprocess("--codex-task=xdist-task", "-n", "2")
    result.assert_outcomes(passed=245, failed=5)
    [manifest] = _manifests(pytester.path, "xdist-task")
    nodeids = [t["nodeid"] for t in manifest["tests"]]
    assert len(nodeids) == 250 and len(set(nodeids)) == 250
    assert {t["worker"] for t in manifest["tests"]} == {"gw0", "gw1"}
    events = [
        json.loads(line) for line in Path(manifest["paths"]["events"]).read_text().splitlines()
    ]
    seen = sorted(e["payload"]["n"] for e in events if e["type"] == "demo:seen")
    assert seen == list(range(250))
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_codex_run_works_without_a_task(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import json

def test_temporary(codex_run):
    codex_run.emit("demo:hello", {"x": 1})
    assert codex_run.task_id == "pytest-codex-temporary"
    assert codex_run.run_dir.is_dir()
    lines = codex_run.paths.events.read_text().splitlines()
    assert json.loads(lines[-1])["type"] == "demo:hello"
"""
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert not (pytester.path / ".runs").exists()


def test_codex_run_is_the_session_run_under_a_task(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
def test_emit(codex_run):
    assert codex_run.task_id == "emit-task"
    codex_run.emit("demo:evidence", {"checked": True})
"""
    )
    pytester.runpytest("--codex-task=emit-task").assert_outcomes(passed=1)
    [manifest] = _manifests(pytester.path, "emit-task")
    events = Path(manifest["paths"]["events"]).read_text()
    assert '"type":"demo:evidence"' in events


def test_the_markers_are_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.codex_guardrail("lint")
@pytest.mark.codex_approval("shell:git status", scope="session")
def test_marked():
    pass
"""
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)


@pytest.mark.parametrize("task", ["..", "../x", "a/b", ".hidden", "x" * 129, "sp ace"])
def test_bad_task_ids_exit_2_and_write_nothing(pytester: pytest.Pytester, task: str) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess(f"--codex-task={task}")
    assert result.ret == 2
    assert [line for line in result.errlines if line.strip()] == [
        line
        for line in result.errlines
        if "not a valid task id" in line or "characters long" in line
    ]
    assert len([line for line in result.errlines if line.strip()]) == 1
    assert not (pytester.path / ".runs").exists()
    assert not (pytester.path / "out").exists()


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("codex.orchestrator.yaml", "approval_policy: [\n", "not valid YAML"),
        ("codex.orchestrator.yaml", "colour: blue\n", "unknown key 'colour'"),
        (
            "codex.orchestrator.json",
            '{"max_attempts": "three"}',
            "key 'max_attempts': expected an integer",
        ),
        (
            "pyproject.toml",
            "[tool.codex-orchestrator]\nsandbox = 'maybe'\n",
            "key 'sandbox': expected one of",
        ),
    ],
)
def test_broken_config_exits_2_with_one_line_naming_file_and_key(
    pytester: pytest.Pytester, name: str, text: str, needle: str
) -> None:
    (pytester.path / name).write_text(text)
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--codex-task=cfg")
    assert result.ret == 2
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and needle in errors[0] and name in errors[0]
    assert not (pytester.path / ".runs").exists()


def test_the_packages_own_modules_are_not_assertion_rewritten(pytester: pytest.Pytester) -> None:
    # Rewriting them buys nothing and costs a parse and compile of each on every run where
    # bytecode is not written (PYTHONDONTWRITEBYTECODE=1).
    pytester.makepyfile(
        """
import sys

def test_loaders(codex_run):
    for name in ("pytest_codex.run", "pytest_codex.manifest", "pytest_codex.plugin.fixtures.run"):
        loader = type(sys.modules[name].__loader__).__name__
        assert loader != "AssertionRewritingHook", name
"""
    )
    pytester.runpytest_subprocess("--codex-task=rewrite").assert_outcomes(passed=1)


def test_without_a_task_nothing_heavy_is_imported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import sys

def test_inert():
    heavy = ["guardrails", "pytest_codex.run", "pytest_codex.manifest", "jsonschema"]
    assert [name for name in heavy if name in sys.modules] == []
"""
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
