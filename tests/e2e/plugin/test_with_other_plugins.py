"""The pytest plugin next to pytest's own modes and other plugins: collect-only,
pytest-rerunfailures, pytest-xdist crashes, Ctrl-C, and a session killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from guardrails.evidence import check_evidence
from pytest_codex import schemas

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCP_RUNNER_TASK_ID", raising=False)
    monkeypatch.setenv("CODEX_ORCHESTRATOR_ROOT", str(pytester.path))
    monkeypatch.setenv("CODEX_ORCHESTRATOR_GUARDRAILS", "none")


def _manifests(root: Path, task: str) -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text())
        for p in sorted((root / ".runs" / task / "cli").glob("*/manifest.json"))
    ]


def _events(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    text = Path(manifest["paths"]["events"]).read_text()
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("flag", ["--co", "--collect-only"])
def test_collect_only_is_recorded_as_such_and_is_never_succeeded_evidence(
    pytester: pytest.Pytester, flag: str
) -> None:
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass")
    result = pytester.runpytest("--codex-task=co-task", flag)
    assert result.ret == pytest.ExitCode.OK
    [manifest] = _manifests(pytester.path, "co-task")
    schemas.validate("manifest", manifest)
    assert manifest["collectOnly"] is True
    assert manifest["status"] != "succeeded"
    assert manifest["statusDetail"] == "collect-only: 2 tests collected, none ran"
    assert manifest["tests"] == []
    assert manifest["summary"]["tests"] == {"collected": 2, "total": 0}
    cited = Path(manifest["paths"]["manifest"]).relative_to(pytester.path).as_posix()
    verdict = check_evidence(pytester.path, cited, "co-task")
    assert not verdict.ok and verdict.problem == "not-succeeded"


def test_a_session_that_runs_tests_has_no_collect_only_flag(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass")
    pytester.runpytest("--codex-task=ran").assert_outcomes(passed=1)
    [manifest] = _manifests(pytester.path, "ran")
    assert "collectOnly" not in manifest and manifest["status"] == "succeeded"


FLAKY = """
from pathlib import Path

def test_flaky():
    counter = Path(__file__).with_name("attempts")
    attempts = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(attempts + 1))
    assert attempts >= 1, "first attempt fails"

def test_broken():
    assert False, "always fails"

def test_fine():
    pass
"""


def test_rerunfailures_gives_one_record_per_test_with_its_reruns(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_flaky=FLAKY)
    result = pytester.runpytest_subprocess(
        "--codex-task=reruns", "-p", "rerunfailures", "--reruns", "2"
    )
    outcomes = result.parseoutcomes()
    assert outcomes == {"failed": 1, "passed": 2, "rerun": 3}
    [manifest] = _manifests(pytester.path, "reruns")
    schemas.validate("manifest", manifest)
    tests = {t["nodeid"].split("::")[1]: t for t in manifest["tests"]}
    assert len(manifest["tests"]) == 3
    assert {name: (t["outcome"], t["reruns"]) for name, t in tests.items()} == {
        "test_flaky": ("passed", 1),
        "test_broken": ("failed", 2),
        "test_fine": ("passed", 0),
    }
    assert tests["test_flaky"]["failure"] is None
    assert "always fails" in tests["test_broken"]["failure"]
    counts = manifest["summary"]["tests"]
    assert {k: v for k, v in counts.items() if k != "total"} == outcomes
    assert counts["total"] == 3


def test_an_xdist_worker_crash_is_failed_as_pytest_says(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_crash="""
import os, signal

def test_ok():
    pass

def test_crash():
    os.kill(os.getpid(), signal.SIGKILL)
"""
    )
    result = pytester.runpytest_subprocess("--codex-task=crash", "-n", "1")
    result.assert_outcomes(passed=1, failed=1)
    [manifest] = _manifests(pytester.path, "crash")
    schemas.validate("manifest", manifest)
    tests = {t["nodeid"].split("::")[1]: t for t in manifest["tests"]}
    assert tests["test_crash"]["outcome"] == "failed"
    assert tests["test_crash"]["failure"].startswith("worker crashed: ")
    assert tests["test_ok"]["outcome"] == "passed"
    assert manifest["summary"]["tests"] == {"failed": 1, "passed": 1, "total": 2}


def test_a_test_interrupted_by_ctrl_c_keeps_the_interruption_text(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_interrupt="""
def test_before():
    pass

def test_interrupted():
    raise KeyboardInterrupt("operator pressed Ctrl-C")

def test_after():
    pass
"""
    )
    result = pytester.runpytest_subprocess("--codex-task=ctrl-c")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    [manifest] = _manifests(pytester.path, "ctrl-c")
    schemas.validate("manifest", manifest)
    tests = {t["nodeid"].split("::")[1]: t for t in manifest["tests"]}
    assert set(tests) == {"test_before", "test_interrupted"}
    failure = tests["test_interrupted"]["failure"]
    assert failure.startswith("interrupted: KeyboardInterrupt: operator pressed Ctrl-C")
    assert failure.endswith("test_interrupt.py:5)")
    assert manifest["status"] == "cancelled"
    assert manifest["statusDetail"] == failure


def test_results_reach_disk_while_the_session_runs_and_survive_kill_9(
    pytester: pytest.Pytester,
) -> None:
    marker = pytester.path / "long-test-started"
    # No heartbeat write comes to the rescue while the test sleeps.
    (pytester.path / "codex.orchestrator.json").write_text('{"heartbeat_interval_seconds": 600}')
    pytester.makepyfile(
        test_long=f"""
import time
from pathlib import Path

def test_one():
    pass

def test_two():
    pass

def test_long():
    Path({str(marker)!r}).touch()
    time.sleep(120)
"""
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--codex-task=killed"],
        cwd=pytester.path,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run_dir: Path | None = None
        # Nothing emits an event while test_long sleeps: only the sinks' own flush timers
        # can put the two results on disk. Waiting is bounded generously (this is not a
        # timing test; the bound is documented as 0.25 s for the journal, 1 s for the
        # manifest).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = list((pytester.path / ".runs" / "killed" / "cli").glob("*/manifest.json"))
            if marker.exists() and found:
                run_dir = found[0].parent
                manifest = json.loads(found[0].read_text())
                journal = (run_dir / "events.jsonl").read_text()
                if len(manifest["tests"]) == 2 and journal.count('"test:result"') == 2:
                    break
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert run_dir is not None, "the session never started its run"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    results = [e["payload"]["test"]["nodeid"] for e in events if e["type"] == "test:result"]
    assert results == ["test_long.py::test_one", "test_long.py::test_two"]
    assert [t["nodeid"] for t in manifest["tests"]] == results
    assert manifest["status"] == "in_progress"


def test_an_empty_task_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--codex-task=")
    assert result.ret == 2
    result.stderr.fnmatch_lines(["*--codex-task is empty; pass a task id*"])
    assert not (pytester.path / ".runs").exists()


def test_another_plugin_reaches_the_run_through_session_run(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import pytest
from pytest_codex.plugin.state import session_run

@pytest.fixture
def recorded(request):
    return session_run(request)

def pytest_terminal_summary(config):
    run = session_run(config)
    print("SESSION-RUN", None if run is None else run.task_id)
"""
    )
    pytester.makepyfile(
        """
def test_emits(recorded):
    assert recorded is not None and recorded.task_id == "door"
    recorded.emit("demo:through-the-door", {"ok": True})
"""
    )
    result = pytester.runpytest_subprocess("--codex-task=door", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["SESSION-RUN door"])
    [manifest] = _manifests(pytester.path, "door")
    assert "demo:through-the-door" in [e["type"] for e in _events(manifest)]
    # Without a task there is no run: the accessor says so.
    inert = pytester.runpytest_subprocess("-s")
    inert.stdout.fnmatch_lines(["SESSION-RUN None"])
