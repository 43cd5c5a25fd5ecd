"""Run context: ids, roots, configuration precedence, the event bus and the manifest."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import schemas
from pytest_codex.context import Context
from pytest_codex.errors import ConfigError, TaskIdError
from pytest_codex.events import Event, EventBus
from pytest_codex.ids import RUN_ID_PATTERN, new_run_id, validate_task_id
from pytest_codex.paths import Roots, find_repo_root
from pytest_codex.run import Run
from tests.helpers.sinks import KeepSink
from tests.helpers.trust import trusted


@pytest.mark.parametrize("task", ["0303-orchestrator-autonomy", "a", "A.b_c-1", "x" * 128])
def test_valid_task_ids_pass(task: str) -> None:
    assert validate_task_id(task) == task


@pytest.mark.parametrize("task", ["", ".", "..", "../x", "a/b", ".hidden", "x" * 129, "a\0b", "é"])
def test_invalid_task_ids_are_refused_in_one_line(task: str) -> None:
    with pytest.raises(TaskIdError) as info:
        validate_task_id(task)
    assert "\n" not in str(info.value) and info.value.exit_code == 2


def test_run_ids_are_sortable_and_unique_under_concurrency() -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        batch = [new_run_id() for _ in range(500)]
        with lock:
            ids.extend(batch)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == len(ids) == 4000
    assert all(re.match(RUN_ID_PATTERN, run_id) for run_id in ids)
    first, later = new_run_id(), None
    import time

    time.sleep(0.002)
    later = new_run_id()
    assert first[:24] < later[:24]


def test_repo_root_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_repo_root(deep) == tmp_path


def test_roots_follow_the_environment(tmp_path: Path) -> None:
    roots = Roots.discover(
        env={
            "CODEX_ORCHESTRATOR_ROOT": str(tmp_path),
            "CODEX_ORCHESTRATOR_RUNS_DIR": "evidence",
            "CODEX_ORCHESTRATOR_OUT_DIR": "/tmp/elsewhere-out",
        }
    )
    assert roots.root == tmp_path
    assert roots.runs_dir == tmp_path / "evidence"
    assert roots.out_dir == Path("/tmp/elsewhere-out")


def _context(root: Path, *, cli: dict[str, Any] | None = None, **env: str) -> Context:
    return Context.load(cwd=root, cli=cli, env={"CODEX_ORCHESTRATOR_ROOT": str(root), **env})


def test_configuration_resolves_cli_then_env_then_file_then_default(tmp_path: Path) -> None:
    (tmp_path / "codex.orchestrator.yaml").write_text(
        "task: from-file\napproval_policy: never\nsandbox: read-only\nmax_attempts: 5\n"
    )
    context = _context(
        tmp_path,
        cli={"task": "from-cli"},
        MCP_RUNNER_TASK_ID="from-env",
        CODEX_ORCHESTRATOR_APPROVAL_POLICY="untrusted",
    )
    config = context.config
    assert (config.get("task"), config.source("task")) == ("from-cli", "cli")
    assert (config.get("approval_policy"), config.source("approval_policy")) == (
        "untrusted",
        "env:CODEX_ORCHESTRATOR_APPROVAL_POLICY",
    )
    assert (config.get("sandbox"), config.source("sandbox")) == (
        "read-only",
        "config:codex.orchestrator.yaml",
    )
    assert (config.get("backoff_initial_ms"), config.source("backoff_initial_ms")) == (
        250.0,
        "default",
    )
    assert context.task_id() == "from-cli"


def test_pyproject_table_is_a_config_source(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.codex-orchestrator]\ntask = 'py-task'\n")
    context = _context(tmp_path)
    assert context.task_id() == "py-task"
    assert context.config.source("task") == "config:pyproject.toml"


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable CODEX_ORCHESTRATOR_SANDBOX"):
        _context(tmp_path, CODEX_ORCHESTRATOR_SANDBOX="sideways")


def test_a_bad_task_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(TaskIdError, match=re.escape("MCP_RUNNER_TASK_ID '../up'")):
        _context(tmp_path, MCP_RUNNER_TASK_ID="../up").task_id()


class _Exploding:
    name = "exploding"

    def __init__(self) -> None:
        self.calls = 0

    def handle(self, event: Event) -> None:
        self.calls += 1
        raise RuntimeError("sink broke")

    def close(self) -> None:
        pass


def test_a_failing_sink_is_detached_and_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    sink = _Exploding()
    run = Run.start(_context(tmp_path), task_id="sinks", sinks=[sink], heartbeat=False)
    run.emit("demo:one", {})
    run.emit("demo:two", {})
    run.finish("succeeded")
    manifest = json.loads(run.paths.manifest.read_text())
    assert sink.calls == 1
    assert manifest["sinks"]["exploding"]["state"] == "detached"
    assert "sink broke" in manifest["sinks"]["exploding"]["error"]
    assert manifest["status"] == "succeeded"
    types = [json.loads(line)["type"] for line in run.paths.events.read_text().splitlines()]
    assert types == ["run:start", "instructions:loaded", "demo:one", "demo:two", "run:summary"]


def test_events_are_enveloped_with_gap_free_seq(tmp_path: Path) -> None:
    bus = EventBus("2026-11-24T00-00-00-000Z-deadbeef")
    keep = KeepSink()
    seen = keep.events
    bus.subscribe(keep)
    threads = [
        threading.Thread(target=lambda: [bus.emit("demo:x", {"i": i}) for i in range(200)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [e.seq for e in seen] == list(range(1, 801))
    for event in seen[:5]:
        schemas.validate("event", event.to_dict())


def test_secret_values_never_reach_events_or_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-very-secret-42")
    trusted(
        tmp_path / "codex.orchestrator.yaml",
        "otel: {endpoint: 'http://127.0.0.1:9/v1/traces', headers: {api_key: 'k-123456'}}\n",
    )
    run = Run.start(_context(tmp_path), task_id="secrets", heartbeat=False)
    run.emit("demo:leak", {"message": "using tok-very-secret-42 now"})
    run.finish("succeeded")
    everything = run.paths.events.read_text() + run.paths.manifest.read_text()
    assert "tok-very-secret-42" not in everything
    assert "k-123456" not in run.paths.manifest.read_text()
    assert "[REDACTED]" in everything


def test_a_run_leaves_manifest_events_metrics_and_state(tmp_path: Path) -> None:
    context = _context(tmp_path)
    for _ in range(2):
        with Run.start(context, task_id="files", heartbeat=False) as run:
            run.emit("demo:x", {})
    task_dir = tmp_path / ".runs" / "files"
    assert len(list((task_dir / "cli").glob("*/manifest.json"))) == 2
    assert len(list((task_dir / "cli").glob("*/events.jsonl"))) == 2
    metrics = json.loads((task_dir / "metrics.json").read_text())
    assert metrics["runs"] == 2 and metrics["byStatus"] == {"succeeded": 2}
    state = json.loads((tmp_path / "out" / "files" / "state.json").read_text())
    assert state["run"]["id"] == run.run_id


def test_concurrent_runs_fold_into_metrics_without_losing_one(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pytest_codex.context import Context\n"
        "from pytest_codex.run import Run\n"
        "ctx = Context.load(env={'CODEX_ORCHESTRATOR_ROOT': sys.argv[1]})\n"
        "Run.start(ctx, task_id='many', heartbeat=False).finish('succeeded')\n"
    )
    children = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)]) for _ in range(6)]
    assert all(child.wait() == 0 for child in children)
    metrics = json.loads((tmp_path / ".runs" / "many" / "metrics.json").read_text())
    assert metrics["runs"] == 6


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_codex.cli", *args],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "CODEX_ORCHESTRATOR_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_runs_list_show_and_review(tmp_path: Path) -> None:
    context = _context(tmp_path)
    with Run.start(context, task_id="cli-task", heartbeat=False) as run:
        pass
    listing = _cli(tmp_path, "runs", "list", "--format", "json")
    assert listing.returncode == 0
    assert [row["runId"] for row in json.loads(listing.stdout)] == [run.run_id]
    show = _cli(tmp_path, "runs", "show", "latest", "--task", "cli-task")
    assert f"run       {run.run_id}" in show.stdout and "succeeded" in show.stdout
    shown = json.loads(_cli(tmp_path, "runs", "show", run.run_id, "--format", "json").stdout)
    assert shown["runId"] == run.run_id
    review = _cli(
        tmp_path,
        "review",
        "--task",
        "cli-task",
        "--outcome",
        "approved",
        "--reason",
        "looks right",
        "--actor",
        "reviewer-1",
    )
    assert review.returncode == 0, review.stderr
    manifest = json.loads(run.paths.manifest.read_text())
    schemas.validate("manifest", manifest)
    assert manifest["reviews"][0]["outcome"] == "approved"
    assert manifest["reviews"][0]["actor"] == "reviewer-1"
    last = json.loads(run.paths.events.read_text().splitlines()[-1])
    assert last["type"] == "review:recorded" and last["seq"] == 4
    assert "review    approved by reviewer-1" in _cli(tmp_path, "runs", "show", "latest").stdout


def test_review_by_manifest_path_and_what_it_refuses(tmp_path: Path) -> None:
    context = _context(tmp_path)
    with Run.start(context, task_id="review-task", heartbeat=False) as run:
        pass
    path = str(run.paths.manifest)
    before = run.paths.manifest.read_bytes()
    refusals = [
        ["review", "--manifest", path, "--outcome", "maybe", "--reason", "x"],
        ["review", "--manifest", path, "--outcome", "skip", "--reason", "  "],
        ["review", "--manifest", str(tmp_path / "nope.json"), "--outcome", "skip", "--reason", "x"],
    ]
    for args in refusals:
        refused = _cli(tmp_path, *args)
        assert refused.returncode == 2, args
        assert len(refused.stderr.strip().splitlines()) == 1
    assert run.paths.manifest.read_bytes() == before
    done = _cli(
        tmp_path, "review", "--manifest", path, "--outcome", "changes-requested",
        "--reason", "needs a spec", "--actor", "rv", "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    review = json.loads(done.stdout)
    assert (review["outcome"], review["reason"], review["actor"]) == (
        "changes-requested",
        "needs a spec",
        "rv",
    )
    manifest = json.loads(run.paths.manifest.read_text())
    assert manifest["reviews"] == [review] and manifest["status"] == "succeeded"


@pytest.mark.parametrize(
    "args",
    [["runs", "show", "nope"], ["runs", "list", "--task", "../x"], ["bogus"], ["--nope"]],
)
def test_cli_usage_errors_exit_2_in_one_line(tmp_path: Path, args: list[str]) -> None:
    result = _cli(tmp_path, *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_help_and_version(tmp_path: Path) -> None:
    assert "runs" in _cli(tmp_path, "--help").stdout
    assert re.match(r"codex-orchestrator \d+\.\d+", _cli(tmp_path, "--version").stdout)
