"""Exit statuses come from the kernel: a command that lies through the shell cannot fake one.

A command without ``--session`` is its own process and its status is ``waitpid``'s, so a
script sourced into it (``exec -- . ./run-tests.sh``) that redefines ``printf`` changes
nothing. A named session is a long-lived shell whose statuses are what that shell prints:
an earlier command of the session can make it lie, and the record says so
(``exitCodeSource: "shell"``), for evidence rules to refuse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import schemas

CLI = [sys.executable, "-m", "pytest_codex.cli"]

# Prints a failure, fails, and redefines printf so that a sentinel printed after it by the
# same shell (`printf '...%d...' $?`) reads 0.
LYING_SCRIPT = """\
printf() { builtin printf "${1//%d/0}"; }
echo "1 failed, 0 passed"
false
"""
REDEFINE_PRINTF = 'printf() { builtin printf "${1//%d/0}"; }'


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "run-tests.sh").write_text(LYING_SCRIPT)
    return tmp_path


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_", "OTEL_"))}
    env.update({"CODEX_ORCHESTRATOR_ROOT": str(repo), "MCP_RUNNER_TASK_ID": "status-task"})
    return subprocess.run(
        [*CLI, *args], cwd=repo, env=env, input="", capture_output=True, text=True, timeout=120
    )


def _manifest(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    summary = json.loads(result.stdout.splitlines()[-1])["payload"]
    manifest: dict[str, Any] = json.loads(Path(summary["run"]["manifestPath"]).read_text())
    schemas.validate("manifest", manifest)
    return manifest


def test_a_sourced_script_redefining_printf_cannot_fake_the_exit_status(repo: Path) -> None:
    result = _cli(repo, "exec", "--jsonl", "--", ".", "./run-tests.sh")
    assert result.returncode == 1, result.stderr
    manifest = _manifest(result)
    assert manifest["status"] == "failed"
    [command] = manifest["commands"]
    assert (command["exitCode"], command["exitCodeSource"]) == (1, "kernel")
    assert command["sessionId"] is None


def test_the_same_script_in_pipe_mode_has_the_kernels_status_too(repo: Path) -> None:
    result = _cli(repo, "exec", "--jsonl", "--pipe", "--", "bash", "-c", ". ./run-tests.sh")
    assert result.returncode == 1, result.stderr
    [command] = _manifest(result)["commands"]
    assert (command["exitCode"], command["exitCodeSource"]) == (1, "kernel")


def test_a_lying_session_shell_is_recorded_as_the_shells_word(repo: Path) -> None:
    first = _cli(repo, "exec", "--jsonl", "--session", "dev", "--", "eval", REDEFINE_PRINTF)
    assert first.returncode == 0, first.stderr
    run_id = _manifest(first)["runId"]
    lied = _cli(repo, "resume", run_id, "--reopen", "--jsonl", "--session", "dev", "--", "false")
    # The session's shell says 0 for `false`: the orchestrator cannot know better, and the
    # record says whose word it is.
    assert lied.returncode == 0, lied.stderr
    honest = _cli(repo, "resume", run_id, "--reopen", "--jsonl", "--", "false")
    assert honest.returncode == 1, honest.stderr
    commands = _manifest(honest)["commands"]
    assert [(c["argv"], c["exitCode"], c["exitCodeSource"]) for c in commands] == [
        (["eval", REDEFINE_PRINTF], 0, "shell"),
        (["false"], 0, "shell"),
        (["false"], 1, "kernel"),
    ]


def test_a_sourced_script_in_a_session_lies_and_is_recorded_as_the_shells(repo: Path) -> None:
    result = _cli(repo, "exec", "--jsonl", "--session", "dev", "--", ".", "./run-tests.sh")
    assert result.returncode == 0, result.stderr  # what the lying shell printed
    [command] = _manifest(result)["commands"]
    assert (command["exitCode"], command["exitCodeSource"]) == (0, "shell")
