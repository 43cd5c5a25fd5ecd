"""SIGTERM to ``exec`` (a plain ``kill``, ``CodexOrchestrator.cancel()``; the Codex SDK's
abort is in test_codex_sdk_interop.py) ends the command tree, finishes the run ``cancelled``
with a detail, and writes every record: the manifest's ``commands[]``, ``metrics.json``,
``out/<task>/state.json`` and the notification records, all before the final event."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.sdk import CodexOrchestrator, SdkCancelledError
from tests.helpers.trust import trusted

CLI = [sys.executable, "-m", "pytest_codex.cli"]
TASK = "term-records"
SCRIPT = "echo started; sleep 7123 & sleep 7124; wait"


def _live(*tokens: str) -> list[str]:
    """Live (not zombie) processes whose argv contains one of ``tokens``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] != "Z" and any(t.encode() in argv for t in tokens):
            found.append(proc.name)
    return found


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """(the caller's directory, the working directory given with --cd, the environment)."""
    caller, work = tmp_path / "caller", tmp_path / "work"
    caller.mkdir()
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    trusted(work / "codex.orchestrator.yaml", f"notify:\n  - file://{tmp_path}/notes.jsonl\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_", "OTEL_"))}
    env["MCP_RUNNER_TASK_ID"] = TASK
    return caller, work, env


def _assert_cancelled_in_full(work: Path, summary: dict[str, Any]) -> None:
    """Everything the finished run writes is on disk once its final event is out."""
    run_id = summary["run"]["id"]
    assert summary["status"] == "cancelled" and "SIGTERM" in summary["statusDetail"]
    manifest = json.loads(Path(summary["run"]["manifestPath"]).read_text())
    assert Path(summary["run"]["manifestPath"]).is_relative_to(work / ".runs")
    assert manifest["status"] == "cancelled" and "SIGTERM" in manifest["statusDetail"]
    [command] = manifest["commands"]
    assert command["argv"][-1] == SCRIPT
    assert command["signal"] == signal.SIGTERM and command["exitCode"] is None
    assert "started" in Path(command["logPath"]).read_text()
    metrics = json.loads((work / ".runs" / TASK / "metrics.json").read_text())
    assert metrics["perRun"][run_id]["status"] == "cancelled"
    state = json.loads((work / "out" / TASK / "state.json").read_text())
    assert (state["run"]["id"], state["status"]) == (run_id, "cancelled")
    notes = (work.parent / "notes.jsonl").read_text().splitlines()
    assert [(n["runId"], n["status"]) for n in map(json.loads, notes)] == [(run_id, "cancelled")]
    assert _live("7123", "7124") == [], "the command tree outlived the run"


@pytest.mark.parametrize("mode", [[], ["--pipe"]], ids=["pty", "pipe"])
def test_a_plain_kill(places: tuple[Path, Path, dict[str, str]], mode: list[str]) -> None:
    caller, work, env = places
    process = subprocess.Popen(
        [*CLI, "exec", "--jsonl", *mode, "--cd", str(work), "--", "sh", "-c", SCRIPT],
        cwd=caller,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    events = []
    for line in process.stdout:
        event = json.loads(line)
        events.append(event)
        if event["type"] == "exec:chunk" and "started" in event["payload"]["data"]:
            os.kill(process.pid, signal.SIGTERM)  # as `kill PID` does
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert events[-1]["type"] == "run:summary"
    _assert_cancelled_in_full(work, events[-1]["payload"])


def test_codex_orchestrator_cancel(places: tuple[Path, Path, dict[str, str]]) -> None:
    caller, work, env = places
    client = CodexOrchestrator(cwd=caller, env=env, options=["--cd", str(work)])
    stream = client.stream(["sh", "-c", SCRIPT])
    for event in stream:
        if event.type == "exec:chunk" and "started" in event.payload["data"]:
            stream.cancel()
    with pytest.raises(SdkCancelledError):
        stream.result()
    assert stream.process.returncode == 128 + signal.SIGTERM  # finished, not SIGKILLed
    assert stream.events[-1].type == "run:summary"
    _assert_cancelled_in_full(work, dict(stream.events[-1].payload))
