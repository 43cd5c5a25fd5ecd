"""SIGTERM to ``codex-orchestrator exec`` ends the command tree and finishes the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "pytest_codex.cli"]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _pids_running(argv: list[str]) -> list[int]:
    """Host pids whose command line is exactly ``argv`` (pids printed inside the sandbox's
    PID namespace are not host pids)."""
    wanted = ("\0".join(argv) + "\0").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == wanted and _alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("mode", [["--pipe"], []], ids=["pipe", "pty"])
def test_sigterm_kills_the_grandchild_and_writes_a_cancelled_summary(
    tmp_path: Path, mode: list[str]
) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to see the grandchild")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_", "OTEL_"))}
    env.update({"CODEX_ORCHESTRATOR_ROOT": str(tmp_path), "MCP_RUNNER_TASK_ID": "term-task"})
    naptime = f"{300 + os.getpid() % 1000}.{os.getpid() % 97}"  # this test's own sleep
    script = f"sleep {naptime} & echo grandchild=$!; wait"
    process = subprocess.Popen(
        [*CLI, "exec", "--jsonl", *mode, "--", "sh", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    events = []
    grandchild = None
    for line in process.stdout:
        event = json.loads(line)
        events.append(event)
        data = event["payload"].get("data", "") if event["type"] == "exec:chunk" else ""
        if "grandchild=" in data:
            grandchild = int(data.split("grandchild=")[1].split()[0])
            os.kill(process.pid, signal.SIGTERM)  # the CLI alone, not its process group
    stderr = process.stderr.read() if process.stderr else ""
    assert process.wait(timeout=60) == 128 + signal.SIGTERM, stderr
    assert grandchild is not None, events
    survivors = _pids_running(["sleep", naptime])
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, "the grandchild outlived the CLI"
    summary = events[-1]
    assert summary["type"] == "run:summary"
    assert summary["payload"]["status"] == "cancelled"
    assert "terminated" in stderr
