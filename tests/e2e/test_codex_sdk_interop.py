"""The official Codex TypeScript SDK drives codex-orchestrator through codexPathOverride."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed to install and run @openai/codex-sdk",
)

DRIVER = r"""
import { Codex } from "@openai/codex-sdk";

const [cli, repo] = process.argv.slice(2);
const codex = new Codex({ codexPathOverride: cli });
const out = {};
const thread = codex.startThread({ workingDirectory: repo, skipGitRepoCheck: true,
                                   sandboxMode: "workspace-write" });
const first = await thread.run("echo hello-from-sdk");
out.first = { items: first.items, finalResponse: first.finalResponse, usage: first.usage,
              threadId: thread.id };
const resumed = codex.resumeThread(thread.id, { workingDirectory: repo });
const second = await resumed.run("echo second-turn");
out.second = { items: second.items, finalResponse: second.finalResponse };
try {
  await codex.startThread({ workingDirectory: repo }).run("exit 7");
  out.failure = null;
} catch (error) {
  out.failure = String(error.message);
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


def test_the_codex_sdk_runs_resumes_and_sees_failures(sdk_dir: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    # The SDK spawns the path it is given: a small launcher for this interpreter's CLI.
    launcher = tmp_path / "codex-orchestrator"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} -m pytest_codex.cli "$@"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
    env.update({"MCP_RUNNER_TASK_ID": "sdk-task", "CODEX_ORCHESTRATOR_ROOT": str(repo)})
    done = subprocess.run(
        ["node", str(sdk_dir / "driver.mjs"), str(launcher), str(repo)],
        cwd=sdk_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])

    first = out["first"]
    command = first["items"][0]
    assert command["type"] == "command_execution"
    assert command["status"] == "completed" and command["exit_code"] == 0
    assert command["aggregated_output"] == "hello-from-sdk\n"
    assert "succeeded" in first["finalResponse"] and "manifest:" in first["finalResponse"]
    assert first["usage"]["input_tokens"] == 0

    manifests = list(
        (repo / ".runs" / "sdk-task" / "cli").glob(f"{first['threadId']}/manifest.json")
    )
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    assert [c["argv"][-1] for c in manifest["commands"]] == [
        "echo hello-from-sdk",
        "echo second-turn",
    ]
    assert len(manifest["resume_events"]) == 1
    assert out["second"]["items"][0]["aggregated_output"] == "second-turn\n"

    assert out["failure"] is not None and "exited 7" in out["failure"]
