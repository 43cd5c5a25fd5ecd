"""The official Codex TypeScript SDK (@openai/codex-sdk, installed from npm) drives
codex-orchestrator through ``codexPathOverride``, as an ordinary app would: node runs in one
directory, the thread's ``workingDirectory`` is another, and no test-only variable is set
(the task comes from ``MCP_RUNNER_TASK_ID``, the documented way). Every scenario asserts
that node survives and that the run lands finished under the working directory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.trust import trusted

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed to install and run @openai/codex-sdk",
)

TASK = "sdk-task"

# One scenario per invocation: `node driver.mjs CLI WORKDIR SCENARIO`; the last stdout line
# is what the scenario saw, as JSON.
DRIVER = r"""
import { Codex } from "@openai/codex-sdk";

const [cli, workdir, scenario] = process.argv.slice(2);
const codex = new Codex({ codexPathOverride: cli });
const options = { workingDirectory: workdir, skipGitRepoCheck: true,
                  sandboxMode: "workspace-write" };
const turn = (t) => ({ items: t.items, finalResponse: t.finalResponse, usage: t.usage });
const out = { scenario, cwd: process.cwd() };

async function failing(promise) {
  try { await promise; return null; } catch (error) { return String(error.message); }
}

if (scenario === "run") {
  const thread = codex.startThread(options);
  out.turn = turn(await thread.run("echo hello-from-sdk"));
  out.threadId = thread.id;
} else if (scenario === "runStreamed") {
  const thread = codex.startThread(options);
  const { events } = await thread.runStreamed("echo one; echo two");
  out.events = [];
  for await (const event of events) out.events.push(event);
  out.threadId = thread.id;
} else if (scenario === "resume") {
  const thread = codex.startThread(options);
  out.first = turn(await thread.run("echo first-turn"));
  out.threadId = thread.id;
  const resumed = codex.resumeThread(thread.id, options);
  out.second = turn(await resumed.run("echo second-turn"));
  out.resumedId = resumed.id;
} else if (scenario === "outputSchema") {
  const thread = codex.startThread(options);
  const schema = { type: "object", properties: { answer: { type: "integer" } },
                   required: ["answer"], additionalProperties: false };
  out.turn = turn(await thread.run(`echo '{"answer": 42}'`, { outputSchema: schema }));
  out.threadId = thread.id;
} else if (scenario === "failure") {
  const thread = codex.startThread(options);
  out.error = await failing(thread.run("echo on-the-way-out; exit 7"));
  out.threadId = thread.id;
} else if (scenario === "abort") {
  const thread = codex.startThread(options);
  const controller = new AbortController();
  const { events } = await thread.runStreamed(
    "echo started; sleep 6123 & sleep 6124; wait", { signal: controller.signal });
  out.seen = [];
  out.error = await failing((async () => {
    for await (const event of events) {
      out.seen.push(event.type);
      if (event.type === "item.updated" && event.item.aggregated_output.includes("started")) {
        controller.abort();
      }
    }
  })());
  out.threadId = thread.id;
} else if (scenario === "everyOption") {
  // Every option the SDK turns into a flag, as an app might set them.
  const full = new Codex({ codexPathOverride: cli, baseUrl: "http://127.0.0.1:9/v1",
                           config: { model_verbosity: "low", tools: { view_image: true } },
                           configOverrides: ["show_raw_agent_reasoning=true"] });
  const thread = full.startThread({ ...options, model: "gpt-5-codex", threadSource: "app",
    modelReasoningEffort: "high", networkAccessEnabled: false, webSearchMode: "disabled",
    approvalPolicy: "never", additionalDirectories: [workdir] });
  out.turn = turn(await thread.run(
    [{ type: "text", text: "echo every-option" },
     { type: "local_image", path: `${workdir}/x.png` }],
    { cyberAccessProgram: "standard" }));
  out.threadId = thread.id;
} else if (scenario === "write") {
  const thread = codex.startThread(options);
  out.turn = turn(await thread.run("touch made-by-sdk && echo wrote"));
  out.threadId = thread.id;
} else if (scenario === "concurrent") {
  const threads = [0, 1, 2].map(() => codex.startThread(options));
  const turns = await Promise.all(threads.map((t, i) => t.run(`echo thread-${i}`)));
  out.turns = turns.map(turn);
  out.threadIds = threads.map((t) => t.id);
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def sdk_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("codex-sdk")
    (directory / "package.json").write_text('{"name": "sdk-interop", "type": "module"}')
    install = subprocess.run(
        ["npm", "install", "--omit=optional", "--no-audit", "--no-fund", "@openai/codex-sdk"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if install.returncode != 0:
        pytest.fail(f"npm install @openai/codex-sdk failed: {install.stderr[-2000:]}")
    (directory / "driver.mjs").write_text(DRIVER)
    return directory


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(the app's directory A, the thread's working directory B, a launcher of the CLI)."""
    return make_places(tmp_path)


def make_places(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A and B under ``tmp_path``, B a git repository with a config file."""
    app, work = tmp_path / "app", tmp_path / "work"
    app.mkdir()
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    # Notifications are part of what a finished run writes: a file target records them.
    trusted(work / "codex.orchestrator.yaml", f"notify:\n  - file://{tmp_path}/notes.jsonl\n")
    # The SDK spawns the path it is given: the installed console script, as a user's would
    # be (else a small launcher for this interpreter's CLI).
    launcher = Path(sys.executable).with_name("codex-orchestrator")
    if not launcher.is_file():
        launcher = tmp_path / "codex-orchestrator"
        launcher.write_text(f'#!/bin/sh\nexec {sys.executable} -m pytest_codex.cli "$@"\n')
        launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    return app, work, launcher


def drive(sdk_dir: Path, places: tuple[Path, Path, Path], scenario: str) -> dict[str, Any]:
    """Run one scenario in node (cwd = A, workingDirectory = B); node must exit 0."""
    app, work, launcher = places
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
    env["MCP_RUNNER_TASK_ID"] = TASK
    # The app's own directory holds the script and its node_modules, as an app's would.
    driver = app / "driver.mjs"
    driver.write_text(DRIVER)
    (app / "node_modules").symlink_to(sdk_dir / "node_modules")
    done = subprocess.run(
        ["node", str(driver), str(launcher), str(work), scenario],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode != -signal.SIGHUP, f"node was killed by SIGHUP: {done.stderr}"
    assert done.returncode == 0, f"node exited {done.returncode}: {done.stderr}"
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["cwd"] == str(app)
    assert not (app / ".runs").exists() and not (app / "out").exists()
    return out


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    """Poll until ``condition()`` is truthy (the CLI may still be writing after node saw the
    last event); fail naming ``what`` after a generous bound, far above the flush bound."""
    deadline = time.monotonic() + 30
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def finished_run(work: Path, run_id: str) -> dict[str, Any]:
    """The manifest of ``run_id`` under B's .runs once it is finished, with the state and
    metrics a finished run writes."""
    path = work / ".runs" / TASK / "cli" / run_id / "manifest.json"

    def manifest() -> dict[str, Any] | None:
        if not path.is_file():
            return None
        document: dict[str, Any] = json.loads(path.read_text())
        return document if document["status"] != "in_progress" else None

    document: dict[str, Any] = wait_for(manifest, f"{path} to be finished")
    metrics = json.loads((work / ".runs" / TASK / "metrics.json").read_text())
    assert metrics["perRun"][run_id]["status"] == document["status"]
    return document


def notes(work: Path) -> list[dict[str, Any]]:
    path = work.parent / "notes.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_run(sdk_dir: Path, places: tuple[Path, Path, Path]) -> None:
    out = drive(sdk_dir, places, "run")
    work = places[1]
    command = out["turn"]["items"][0]
    assert command["type"] == "command_execution"
    assert command["status"] == "completed" and command["exit_code"] == 0
    assert command["aggregated_output"] == "hello-from-sdk\n"
    assert "succeeded" in out["turn"]["finalResponse"]
    assert str(work / ".runs") in out["turn"]["finalResponse"]
    assert out["turn"]["usage"]["input_tokens"] == 0
    manifest = finished_run(work, out["threadId"])
    assert manifest["status"] == "succeeded"
    assert [c["argv"][-1] for c in manifest["commands"]] == ["echo hello-from-sdk"]
    assert manifest["commands"][0]["cwd"] == str(work)
    # The flags the SDK passed that change nothing here are recorded, not refused.
    unused = manifest["summary"]["execOptions"]["unusedFlags"]
    assert "--skip-git-repo-check" in unused
    state = json.loads((work / "out" / TASK / "state.json").read_text())
    assert state["run"]["id"] == out["threadId"] and state["status"] == "succeeded"
    assert [n["runId"] for n in notes(work)] == [out["threadId"]]


def test_run_streamed(sdk_dir: Path, places: tuple[Path, Path, Path]) -> None:
    out = drive(sdk_dir, places, "runStreamed")
    types = [e["type"] for e in out["events"]]
    assert types[:3] == ["thread.started", "turn.started", "item.started"]
    assert types[-1] == "turn.completed"
    completed = [e["item"] for e in out["events"] if e["type"] == "item.completed"]
    assert completed[0]["aggregated_output"] == "one\ntwo\n"
    statuses = {e["item"]["status"] for e in out["events"] if "status" in e.get("item", {})}
    assert statuses <= {"in_progress", "completed", "failed"}  # the SDK's CommandExecutionStatus
    manifest = finished_run(places[1], out["threadId"])
    assert manifest["status"] == "succeeded" and len(manifest["commands"]) == 1


def test_resume_by_thread_id(sdk_dir: Path, places: tuple[Path, Path, Path]) -> None:
    out = drive(sdk_dir, places, "resume")
    assert out["resumedId"] == out["threadId"]
    assert out["second"]["items"][0]["aggregated_output"] == "second-turn\n"
    manifest = finished_run(places[1], out["threadId"])
    assert manifest["status"] == "succeeded"
    assert [c["argv"][-1] for c in manifest["commands"]] == ["echo first-turn", "echo second-turn"]
    assert len(manifest["resume_events"]) == 1


def test_output_schema(sdk_dir: Path, places: tuple[Path, Path, Path]) -> None:
    out = drive(sdk_dir, places, "outputSchema")
    assert json.loads(out["turn"]["finalResponse"]) == {"answer": 42}
    manifest = finished_run(places[1], out["threadId"])
    assert manifest["status"] == "succeeded"
    assert manifest["summary"]["outputs"]["structured"] == {"answer": 42}


def test_a_failing_command_loses_no_records(sdk_dir: Path, places: tuple[Path, Path, Path]) -> None:
    # On turn.failed the SDK stops reading and SIGTERMs the CLI: everything must be on disk
    # before turn.failed is printed.
    out = drive(sdk_dir, places, "failure")
    work = places[1]
    assert out["error"] is not None and "exited 7" in out["error"]
    manifest = finished_run(work, out["threadId"])
    assert manifest["status"] == "failed"
    assert manifest["statusDetail"] == "command exited with status 7"
    assert [c["exitCode"] for c in manifest["commands"]] == [7]
    state = json.loads((work / "out" / TASK / "state.json").read_text())
    assert state["status"] == "failed" and state["run"]["id"] == out["threadId"]
    assert [(n["runId"], n["status"]) for n in notes(work)] == [(out["threadId"], "failed")]


def _live(*tokens: str) -> list[str]:
    """Command lines of live processes whose argv contains one of ``tokens``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(token.encode() in argv for token in tokens):
            found.append(" ".join(a.decode(errors="replace") for a in argv))
    return found


def test_abort_cancels_the_run_and_ends_the_command_tree(
    sdk_dir: Path, places: tuple[Path, Path, Path]
) -> None:
    out = drive(sdk_dir, places, "abort")
    work = places[1]
    assert out["error"] is not None and "abort" in out["error"].lower()
    manifest = finished_run(work, out["threadId"])
    assert manifest["status"] == "cancelled"
    assert "SIGTERM" in manifest["statusDetail"]
    [command] = manifest["commands"]
    assert command["signal"] == signal.SIGTERM and command["exitCode"] is None
    assert "started" in Path(command["logPath"]).read_text()
    state = json.loads((work / "out" / TASK / "state.json").read_text())
    assert state["status"] == "cancelled"
    assert [(n["runId"], n["status"]) for n in notes(work)] == [(out["threadId"], "cancelled")]
    assert wait_for(lambda: not _live("6123", "6124"), "the command tree to end") is True


def test_concurrent_threads(sdk_dir: Path, places: tuple[Path, Path, Path]) -> None:
    out = drive(sdk_dir, places, "concurrent")
    assert len(set(out["threadIds"])) == 3
    for index, (run_id, turn) in enumerate(zip(out["threadIds"], out["turns"], strict=True)):
        assert turn["items"][0]["aggregated_output"] == f"thread-{index}\n"
        manifest = finished_run(places[1], run_id)
        assert manifest["status"] == "succeeded"
        assert [c["argv"][-1] for c in manifest["commands"]] == [f"echo thread-{index}"]


def test_every_sdk_option_is_accepted_and_the_unused_ones_recorded(
    sdk_dir: Path, places: tuple[Path, Path, Path]
) -> None:
    out = drive(sdk_dir, places, "everyOption")
    assert out["turn"]["items"][0]["aggregated_output"] == "every-option\n"
    manifest = finished_run(places[1], out["threadId"])
    assert manifest["status"] == "succeeded"
    options = manifest["summary"]["execOptions"]
    assert options["model"] == "gpt-5-codex" and options["cyberAccessProgram"] == "standard"
    assert options["images"] == [str(places[1] / "x.png")]
    assert set(options["unusedFlags"]) >= {
        "--model",
        "--image",
        "--cyber-access-program",
        "--thread-source",
        "--config model_reasoning_effort",
        "--config web_search",
        "--config openai_base_url",
        "--config model_verbosity",
        "--config tools.view_image",
        "--config show_raw_agent_reasoning",
    }
    # Honoured, not merely recorded:
    assert "--config approval_policy" not in options["unusedFlags"]
    assert manifest["config"]["approval_policy"] == {"value": "never", "source": "cli"}


@pytest.mark.parametrize("base", ["/tmp", "/var/tmp"])
def test_workspace_write_can_write_the_working_directory(sdk_dir: Path, base: str) -> None:
    # The working directory is the sandbox's workspace, wherever it is.
    top = Path(tempfile.mkdtemp(prefix="codex-sdk-write-", dir=base))
    try:
        places = make_places(top)
        out = drive(sdk_dir, places, "write")
        work = places[1]
        assert out["turn"]["items"][0]["status"] == "completed", out
        assert (work / "made-by-sdk").is_file()
        manifest = finished_run(work, out["threadId"])
        assert manifest["status"] == "succeeded"
    finally:
        shutil.rmtree(top, ignore_errors=True)
