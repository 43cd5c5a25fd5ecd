"""``plan`` shows what ``start`` would run without running it; ``status`` watches a run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.cli.test_cli_start import CLI, cli, repo  # noqa: F401  (the fixture)
from tests.helpers.trust import trusted


def _runs(root: Path) -> list[Path]:
    return sorted((root / ".runs").glob("*/cli/*/manifest.json"))


def test_plan_lists_stages_and_runs_nothing(repo: Path) -> None:  # noqa: F811
    done = cli(repo, "plan", "checks", "--format", "json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert [s["id"] for s in plan["stages"]] == ["hello", "flaky", "markers", "after"]
    assert plan["stages"][0]["command"] == ["echo", "hello", "from", "stage"]
    assert plan["stages"][1]["allowFailure"] is True
    markers = plan["stages"][2]
    assert (markers["kind"], markers["guardrail"], markers["cache"]) == (
        "guardrail",
        "no-xxx",
        "miss",
    )
    assert markers["cachedFrom"] is None
    assert _runs(repo) == []
    assert not (repo / "out").exists()


def test_plan_says_which_guardrail_results_the_cache_would_serve(repo: Path) -> None:  # noqa: F811
    assert cli(repo, "start", "checks").returncode == 0
    [manifest] = _runs(repo)
    run_id = manifest.parent.name
    plan = json.loads(cli(repo, "plan", "checks", "--format", "json").stdout)
    markers = plan["stages"][2]
    assert (markers["cache"], markers["cachedFrom"], markers["cachedStatus"]) == (
        "hit",
        run_id,
        "passed",
    )
    (repo / "src" / "app.py").write_text("x = 1  # XXX\n")
    text = cli(repo, "plan", "checks").stdout
    assert "3. markers: guardrail no-xxx" in text and "[miss]" in text
    assert "no-cache" not in text
    off = json.loads(cli(repo, "plan", "checks", "--no-cache", "--format", "json").stdout)
    assert off["stages"][2]["cache"] == "off"
    assert len(_runs(repo)) == 1


def test_plan_of_an_unknown_pipeline_is_a_usage_error(repo: Path) -> None:  # noqa: F811
    done = cli(repo, "plan", "nope")
    assert done.returncode == 2
    assert "unknown pipeline 'nope'" in done.stderr
    assert done.stderr.count("\n") == 1


def test_status_follows_a_running_pipeline_to_its_end(repo: Path) -> None:  # noqa: F811
    # The first stage waits for a gate the test opens once the watcher has shown it: no
    # race with the clock, however loaded the machine.
    config = repo / "codex.orchestrator.yaml"
    trusted(
        config,
        config.read_text()
        + "  - id: slow\n    stages:\n"
        + "      - {kind: command, id: wait, command: "
        + "\"sh -c 'echo begun; until [ -e gate ]; do sleep 0.05; done'\"}\n"
        + '      - {kind: command, id: done, command: "echo done"}\n',
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MCP_")}
    env.update(
        CODEX_ORCHESTRATOR_ROOT=str(repo),
        MCP_RUNNER_TASK_ID="pipe-task",
        PYTHONPATH=str(repo.parent / "plugins"),  # the guardrail plugin installed beside us
    )
    started = subprocess.Popen(
        [*CLI, "start", "slow"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        view = None
        while started.poll() is None:  # the stage cannot end before the gate opens
            if _runs(repo):
                done = cli(repo, "status", "--format", "json")
                if done.returncode == 0:
                    view = json.loads(done.stdout)
                    if view["command"] is not None:
                        break
            time.sleep(0.1)
        assert view is not None and view["status"] == "in_progress"
        assert view["stage"]["id"] == "wait"
        assert (view["stage"]["index"], view["stage"]["total"]) == (1, 2)
        assert "echo begun; until [ -e gate ]" in view["command"]["argv"][-1]
        assert view["heartbeatAgeSeconds"] is not None
        watcher = subprocess.Popen(
            [*CLI, "status", "latest", "--watch", "--interval", "0.2"],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert watcher.stdout is not None
        seen = []
        for line in watcher.stdout:
            seen.append(line)
            if "stage 1/2 wait" in line:
                break
        (repo / "gate").touch()
        rest, errors = watcher.communicate(timeout=300)
        assert watcher.returncode == 0, errors
        last = (rest or seen[-1]).strip().splitlines()[-1]
        assert last.startswith(f"{view['runId']} succeeded")
        assert any("stage 1/2 wait" in line for line in seen)
    finally:
        (repo / "gate").touch()
        started.wait(timeout=300)


def test_status_of_a_failed_run_exits_1(repo: Path) -> None:  # noqa: F811
    config = repo / "codex.orchestrator.yaml"
    trusted(
        config,
        config.read_text()
        + '  - id: bad\n    stages:\n      - {kind: command, id: boom, command: "false"}\n',
    )
    assert cli(repo, "start", "bad").returncode == 1
    done = cli(repo, "status")
    assert done.returncode == 1
    assert " failed" in done.stdout and "stage boom failed" in done.stdout


def test_status_without_runs_says_how_to_start_one(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_codex.cli", "status", "--task", "t1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "CODEX_ORCHESTRATOR_ROOT": str(tmp_path)},
    )
    assert done.returncode != 0
    assert "no runs found" in done.stderr
