"""The Python SDK against the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_codex.sdk import (
    CodexOrchestrator,
    ExecResult,
    SdkCancelledError,
    SdkError,
    SdkTimeoutError,
)


@pytest.fixture
def client(tmp_path: Path) -> CodexOrchestrator:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
    env["CODEX_ORCHESTRATOR_ROOT"] = str(tmp_path)
    return CodexOrchestrator(task="sdk-task", cwd=tmp_path, env=env)


def test_events_stream_while_the_command_still_runs(client: CodexOrchestrator) -> None:
    stream = client.stream(["sh", "-c", "echo first; sleep 1; echo second"])
    seen_running = False
    for event in stream:
        if event.type == "exec:chunk" and "first" in event.payload["data"]:
            seen_running = stream.process.poll() is None
    result = stream.result()
    assert seen_running, "the first chunk arrived only after the CLI had exited"
    assert [e.seq for e in result.events] == list(range(1, len(result.events) + 1))
    assert result.events[0].type == "run:start" and result.events[-1].type == "run:summary"
    assert result.ok and result.manifest()["runId"] == result.run_id


def test_run_returns_exit_code_summary_and_manifest(client: CodexOrchestrator) -> None:
    result = client.run(["sh", "-c", "exit 4"])
    assert (result.exit_code, result.status) == (4, "failed")
    assert result.manifest_path.is_file()
    assert result.summary["result"]["exitCode"] == 4


def test_resume_appends_to_the_run(client: CodexOrchestrator) -> None:
    first = client.run(["echo", "one"])
    second = client.resume(first.run_id, ["echo", "two"], reopen=True)
    assert second.run_id == first.run_id
    assert len(second.manifest()["commands"]) == 2


def test_retry_runs_again_until_success_and_reports_each_attempt(
    client: CodexOrchestrator, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    script = (
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; [ $n -ge 3 ]"
    )
    seen: list[tuple[int, int]] = []
    delays: list[float] = []
    result = client.run_with_retry(
        ["sh", "-c", script],
        retry_on={1},
        attempts=5,
        backoff=0.1,
        on_attempt=lambda n, r: seen.append((n, r.exit_code)),
        sleep=delays.append,
    )
    assert result.ok
    assert seen == [(1, 1), (2, 1), (3, 0)]
    assert delays == [0.1, pytest.approx(0.2)]


def test_retry_stops_on_a_failure_it_was_not_asked_to_retry(client: CodexOrchestrator) -> None:
    attempts: list[ExecResult] = []
    result = client.run_with_retry(
        ["sh", "-c", "exit 9"], retry_on={1}, on_attempt=lambda n, r: attempts.append(r)
    )
    assert result.exit_code == 9 and len(attempts) == 1


def test_a_timeout_kills_the_child(client: CodexOrchestrator) -> None:
    started = time.monotonic()
    with pytest.raises(SdkTimeoutError):
        client.run(["sleep", "30"], timeout=1.0)
    assert time.monotonic() - started < 15


def test_cancel_kills_the_child(client: CodexOrchestrator) -> None:
    stream = client.stream(["sleep", "30"])
    stream.cancel()
    with pytest.raises(SdkCancelledError):
        stream.result()
    assert stream.process.poll() is not None


def test_a_malformed_line_is_a_clear_error(tmp_path: Path) -> None:
    fake = CodexOrchestrator(
        executable=[
            sys.executable,
            "-c",
            "import sys; print('not json'); print('why', file=sys.stderr)",
        ]
    )
    with pytest.raises(
        SdkError, match="line 1 of the CLI's output is not an event envelope"
    ) as info:
        fake.run(["true"])
    assert "why" in info.value.stderr


def test_an_early_exit_carries_stderr(client: CodexOrchestrator) -> None:
    with pytest.raises(SdkError, match="before run:summary") as info:
        CodexOrchestrator(env={**client.env}, cwd=client.cwd).run(["true"])  # no task id
    assert "no task id" in info.value.stderr
    assert info.value.returncode == 2
