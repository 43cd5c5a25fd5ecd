"""codex-orchestrator exec / resume through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_codex import schemas
from tests.helpers.trust import trusted

CLI = [sys.executable, "-m", "pytest_codex.cli"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def _env(repo: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_", "OTEL_"))}
    env.update({"CODEX_ORCHESTRATOR_ROOT": str(repo), "MCP_RUNNER_TASK_ID": "exec-task"})
    env.update(extra)
    return env


def exec_cli(
    repo: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=repo,
        env=_env(repo, **env),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
    )


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def _manifest(event_lines: list[dict[str, Any]]) -> dict[str, Any]:
    summary = event_lines[-1]["payload"]
    document: dict[str, Any] = json.loads(Path(summary["run"]["manifestPath"]).read_text())
    return document


def test_jsonl_is_the_default_off_a_terminal_and_every_line_validates(repo: Path) -> None:
    result = exec_cli(repo, "exec", "--", "sh", "-c", "echo hello; echo oops >&2")
    assert result.returncode == 0, result.stderr
    events = _lines(result.stdout)
    for event in events:
        schemas.validate("event", event)
    types = [e["type"] for e in events]
    assert types[0] == "run:start" and types[-1] == "run:summary"
    assert types.index("exec:begin") < types.index("exec:chunk") < types.index("exec:end")
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    summary = events[-1]["payload"]
    schemas.validate("summary", summary)
    assert summary["status"] == "succeeded"
    assert summary["result"]["exitCode"] == 0
    assert summary["command"]["argv"] == ["sh", "-c", "echo hello; echo oops >&2"]
    assert summary["notifications"] == {"targets": [], "delivered": [], "failures": []}
    assert summary["toolRun"]["approvalSource"] == "not-required"
    assert summary["logs"]["command"].endswith(".log")
    assert "hello" in summary["outputs"]["pty"]["text"]
    state = json.loads((repo / "out" / "exec-task" / "state.json").read_text())
    assert state == summary
    manifest = _manifest(events)
    schemas.validate("manifest", manifest)
    assert manifest["commands"][0]["exitCode"] == 0
    assert Path(manifest["commands"][0]["logPath"]).read_bytes().startswith(b"hello")
    assert manifest["toolRuns"][0]["approvalSource"] == "not-required"


@pytest.mark.parametrize("code", [1, 3, 42])
def test_the_command_exit_status_is_passed_through(repo: Path, code: int) -> None:
    result = exec_cli(repo, "exec", "--jsonl", "--", "sh", "-c", f"exit {code}")
    assert result.returncode == code
    summary = _lines(result.stdout)[-1]["payload"]
    assert (summary["status"], summary["result"]["exitCode"]) == ("failed", code)


def test_pipe_mode_keeps_streams_apart(repo: Path) -> None:
    result = exec_cli(repo, "exec", "--pipe", "--", "sh", "-c", "echo out; echo err >&2")
    outputs = _lines(result.stdout)[-1]["payload"]["outputs"]
    assert outputs["stdout"]["text"] == "out\n"
    assert outputs["stderr"]["text"] == "err\n"


def test_a_timeout_exits_124(repo: Path) -> None:
    result = exec_cli(repo, "exec", "--timeout", "0.5", "--", "sleep", "30")
    assert result.returncode == 124
    assert _lines(result.stdout)[-1]["payload"]["statusDetail"] == "command timed out"


def test_an_approval_refused_exits_3_and_the_codex_item_failed(repo: Path) -> None:
    result = exec_cli(repo, "exec", "--json", "--approval-policy", "untrusted", "--", "touch", "x")
    assert result.returncode == 3, result.stderr
    events = _lines(result.stdout)
    for event in events:
        schemas.validate("codex-event", event)
    items = [e["item"] for e in events if e["type"] == "item.completed"]
    assert items[0]["type"] == "command_execution" and items[0]["status"] == "failed"
    assert events[-1]["type"] == "turn.failed"
    assert not (repo / "x").exists()


def test_the_codex_dialect_follows_codex_cli(repo: Path) -> None:
    result = exec_cli(repo, "exec", "--experimental-json", "--", "sh", "-c", "echo hi")
    assert result.returncode == 0
    events = _lines(result.stdout)
    for event in events:
        schemas.validate("codex-event", event)
    types = [e["type"] for e in events]
    assert types[:3] == ["thread.started", "turn.started", "item.started"]
    assert types[-1] == "turn.completed"
    command = next(e for e in events if e["type"] == "item.completed")["item"]
    assert command["type"] == "command_execution"
    assert (command["status"], command["exit_code"], command["aggregated_output"]) == (
        "completed",
        0,
        "hi\n",
    )
    message = [e for e in events if e["type"] == "item.completed"][-1]["item"]
    assert message["type"] == "agent_message" and "manifest:" in message["text"]
    assert events[0]["thread_id"] in message["text"]


def test_the_codex_sdk_form_reads_the_command_from_stdin_and_honours_config(repo: Path) -> None:
    result = exec_cli(
        repo,
        "exec",
        "--experimental-json",
        "--config",
        'approval_policy="never"',
        "--config",
        "sandbox_workspace_write.network_access=true",
        "--config",
        'model_reasoning_effort="high"',
        "--model",
        "gpt-test",
        "--sandbox",
        "workspace-write",
        "--cd",
        str(repo),
        "--skip-git-repo-check",
        stdin="echo from-stdin",
    )
    assert result.returncode == 0, result.stderr
    events = _lines(result.stdout)
    manifest = json.loads(
        next(
            Path(p)
            for p in (repo / ".runs" / "exec-task" / "cli").glob("*/manifest.json")
            if events[0]["thread_id"] in str(p)
        ).read_text()
    )
    assert manifest["config"]["approval_policy"] == {"value": "never", "source": "cli"}
    assert manifest["config"]["network_access"]["value"] is True
    assert manifest["toolRuns"][0]["argv"] == ["sh", "-c", "echo from-stdin"]


def test_output_schema_accepts_valid_json_and_stores_it(repo: Path) -> None:
    schema = repo / "schema.json"
    schema.write_text(json.dumps({"type": "object", "required": ["ok"]}))
    last = repo / "last.txt"
    result = exec_cli(
        repo,
        "exec",
        "--json",
        "--output-schema",
        str(schema),
        "-o",
        str(last),
        "--pipe",
        "--",
        "sh",
        "-c",
        "echo '{\"ok\": true}'",
    )
    assert result.returncode == 0, result.stderr
    events = _lines(result.stdout)
    message = [e for e in events if e["type"] == "item.completed"][-1]["item"]
    assert json.loads(message["text"]) == {"ok": True}
    assert json.loads(last.read_text()) == {"ok": True}


@pytest.mark.parametrize(
    ("output", "needle"), [("not json", "is not JSON"), ('{"nope": 1}', "'ok' is a required")]
)
def test_output_schema_violations_fail_the_run_with_the_validator_message(
    repo: Path, output: str, needle: str
) -> None:
    schema = repo / "schema.json"
    schema.write_text(json.dumps({"type": "object", "required": ["ok"]}))
    result = exec_cli(
        repo, "exec", "--jsonl", "--output-schema", str(schema), "--pipe", "--", "echo", output
    )
    assert result.returncode == 6
    summary = _lines(result.stdout)[-1]["payload"]
    assert summary["status"] == "failed" and needle in summary["statusDetail"]


def test_resume_appends_to_the_same_manifest_and_refuses_finished_runs(repo: Path) -> None:
    first = _lines(exec_cli(repo, "exec", "--jsonl", "--", "echo", "one").stdout)
    run_id = first[0]["runId"]
    refused = exec_cli(repo, "resume", run_id, "--", "echo", "two")
    assert refused.returncode == 2
    assert "pass --reopen" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    second = exec_cli(repo, "resume", "latest", "--reopen", "--jsonl", "--", "echo", "two")
    assert second.returncode == 0, second.stderr
    events = _lines(second.stdout)
    assert {e["runId"] for e in events} == {run_id}
    assert events[0]["seq"] == first[-1]["seq"] + 1
    manifest = _manifest(events)
    assert [c["argv"] for c in manifest["commands"]] == [["echo", "one"], ["echo", "two"]]
    assert len(manifest["resume_events"]) == 1
    all_events = [
        json.loads(line) for line in Path(manifest["paths"]["events"]).read_text().splitlines()
    ]
    assert [e["seq"] for e in all_events] == list(range(1, len(all_events) + 1))


def test_codex_resume_form_appends_to_the_thread(repo: Path) -> None:
    first = _lines(exec_cli(repo, "exec", "--json", "--", "echo", "one").stdout)
    thread = first[0]["thread_id"]
    again = exec_cli(repo, "exec", "--experimental-json", "resume", thread, stdin="echo two")
    assert again.returncode == 0, again.stderr
    events = _lines(again.stdout)
    assert events[0] == {"type": "thread.started", "thread_id": thread}


@pytest.mark.parametrize(
    "args",
    [
        ["--task", "../escape", "--", "true"],
        ["--approval-policy", "sometimes", "--", "true"],
        ["--output-schema", "/nonexistent.json", "--", "true"],
    ],
)
def test_usage_errors_exit_2_with_one_line_and_write_nothing(repo: Path, args: list[str]) -> None:
    result = exec_cli(repo, "exec", *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert not (repo / ".runs").exists()


def test_a_named_session_persists_across_invocations_of_a_run(repo: Path) -> None:
    trusted(repo / "codex.orchestrator.yaml", "exec: {idle_timeout_seconds: 60}\n")
    (repo / "sub").mkdir()
    first = _lines(exec_cli(repo, "exec", "--session", "dev", "--", "export", "COLOUR=blue").stdout)
    run_id = first[0]["runId"]
    moved = exec_cli(repo, "resume", run_id, "--reopen", "--session", "dev", "--", "cd", "sub")
    assert moved.returncode == 0, moved.stderr
    shown = exec_cli(
        repo,
        "resume",
        run_id,
        "--reopen",
        "--session",
        "dev",
        "--",
        "sh",
        "-c",
        "pwd; echo $COLOUR",
    )
    summary = _lines(shown.stdout)[-1]["payload"]
    assert summary["outputs"]["pty"]["text"] == f"{repo / 'sub'}\nblue\n"
    assert summary["command"]["session"] == "dev"
    manifest = _manifest(_lines(shown.stdout))
    assert [c["sessionId"] for c in manifest["commands"]] == ["dev", "dev", "dev"]
    assert json.loads((Path(manifest["paths"]["runDir"]) / "sessions" / "dev.json").read_text())


def test_a_sandbox_denial_is_retried_escalated_between_begin_and_end(repo: Path) -> None:
    from pytest_codex.sandbox import probe_bubblewrap

    if probe_bubblewrap().backend != "bubblewrap":
        pytest.skip("bubblewrap is not installed or cannot create namespaces here")
    outside = Path.home() / ".cache" / f"codex-escalation-{os.getpid()}"
    outside.mkdir(parents=True, exist_ok=True)
    target = outside / "written.txt"
    # An allow rule runs a command in the sandbox; leaving it takes `escalate: true`.
    trusted(
        repo / "codex.orchestrator.yaml", "approvals: {allow: [{command: touch, escalate: true}]}\n"
    )
    try:
        result = exec_cli(repo, "exec", "--pipe", "--", "touch", str(target))
        assert result.returncode == 0, result.stderr
        events = _lines(result.stdout)
        types = [e["type"] for e in events]
        begin, retry, end = (
            types.index("exec:begin"),
            types.index("tool:retry"),
            types.index("exec:end"),
        )
        assert begin < retry < end
        assert target.exists()
        manifest = _manifest(events)
        tool = manifest["toolRuns"][0]
        assert (tool["retryCount"], tool["sandboxState"], tool["approvalSource"]) == (
            1,
            "escalated",
            "rule",
        )
        assert tool["attempts"][0]["denialEvidence"]["signals"]
        assert len(manifest["commands"]) == 1
        assert len(manifest["commands"][0]["attemptLogs"]) == 2
    finally:
        target.unlink(missing_ok=True)
        outside.rmdir()


def test_the_codex_dialect_stays_linear_in_a_commands_output(repo: Path) -> None:
    size = 4 << 20  # 4 MiB: every item.updated used to repeat up to 64 KiB of it
    script = f"yes 0123456789abcdefghijklmnopqrstuvwxyz 2>/dev/null | head -c {size}"
    result = exec_cli(repo, "exec", "--json", "--pipe", "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    events = _lines(result.stdout)
    completed = next(e for e in events if e["type"] == "item.completed")["item"]
    line = "0123456789abcdefghijklmnopqrstuvwxyz\n"
    expected_end = (line * (size // len(line) + 1))[:size][-1000:]
    assert "omitted" in completed["aggregated_output"]
    assert completed["aggregated_output"].endswith(expected_end)
    assert len(result.stdout.encode()) <= 1.5 * size
