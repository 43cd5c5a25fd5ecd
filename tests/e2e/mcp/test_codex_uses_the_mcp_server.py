"""The real Codex CLI (npm @openai/codex) uses ``codex-orchestrator mcp`` as its exec tool.

A scripted model (tests/helpers/fake_model.py) makes Codex call the server's
``exec_command`` through ``-c mcp_servers.orch={...}``, configured exactly as docs/mcp.md
says; Codex's ``mcp_tool_call`` item holds our output, and our manifest has the command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import schemas
from tests.helpers.fake_model import FakeModel
from tests.helpers.npm import NpmUnavailable, codex_bin

pytest.importorskip("mcp", reason="the mcp extra is not installed")
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed to install and run @openai/codex",
)

TASK = "codex-mcp-task"


def _codex() -> Path:
    try:
        return codex_bin()
    except NpmUnavailable as exc:  # pragma: no cover - guarded by the skip above
        pytest.skip(str(exc))


def _toml(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for these paths


def test_codex_calls_exec_command_and_the_run_records_it(tmp_path: Path) -> None:
    codex = _codex()
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    home, scratch = tmp_path / "codex-home", tmp_path / "scratch"  # CODEX_HOME outside TMPDIR
    home.mkdir()
    scratch.mkdir()
    cmd = command = "echo from-orchestrator; echo to-stderr >&2; exit 3"
    steps: list[dict[str, Any]] = [
        {"calls": [{"namespace": "mcp__orch", "name": "exec_command", "arguments": {"cmd": cmd}}]},
        {"message": "ran it"},
    ]
    server_args = ["-m", "pytest_codex.cli", "mcp", "--task", TASK, "--cd", str(repo)]
    server = (
        f"{{command={_toml(sys.executable)}, args=[{', '.join(_toml(a) for a in server_args)}], "
        f"env={{XDG_CONFIG_HOME={_toml(os.environ['XDG_CONFIG_HOME'])}}}, required=true}}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_", "OTEL_"))}
    env.update({"CODEX_HOME": str(home), "TMPDIR": str(scratch)})
    with FakeModel(steps) as model:
        done = subprocess.run(
            [
                str(codex),
                "exec",
                "--json",
                "--skip-git-repo-check",
                "-m",
                "gpt-5.5",
                *model.provider_config(),
                "-c",
                f"mcp_servers.orch={server}",
                # Under approval_policy=never a tool that is not read-only needs this.
                "-c",
                'mcp_servers.orch.default_tools_approval_mode="approve"',
                "--sandbox",
                "workspace-write",
                "-c",
                "approval_policy=never",
                "use the orchestrator",
            ],
            cwd=repo,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        outputs = model.tool_outputs()
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    calls = [
        e["item"]
        for e in events
        if e["type"] == "item.completed" and e["item"]["type"] == "mcp_tool_call"
    ]
    assert len(calls) == 1, done.stdout
    [call] = calls
    assert (call["server"], call["tool"], call["status"]) == ("orch", "exec_command", "completed")
    text = call["result"]["content"][0]["text"]
    assert "Process exited with code 3" in text
    assert "from-orchestrator" in text and "to-stderr" in text
    structured: dict[str, Any] = call["result"]["structured_content"]
    assert structured["exit_code"] == 3
    assert any("from-orchestrator" in output for output in outputs)  # what the model saw
    [manifest_path] = (repo / ".runs" / TASK / "cli").glob("*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    schemas.validate("manifest", manifest)
    [record] = manifest["commands"]
    assert record["argv"] == ["bash", "-c", command]
    assert (record["exitCode"], record["exitCodeSource"]) == (3, "kernel")
    assert record["sandboxState"] in ("sandboxed", "unsandboxed")
    assert manifest["status"] == "failed"  # Codex closed the server: the run is finished
