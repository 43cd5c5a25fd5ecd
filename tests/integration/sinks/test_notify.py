"""Notifications to a real webhook receiver, a real command and a file; precedence; secrets."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from pytest_codex.context import Context
from pytest_codex.run import Run
from tests.helpers.receivers import closed_port, receiver
from tests.helpers.trust import trusted

SECRET = "s3cr3t-value-123"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)


def _context(
    root: Path,
    *,
    cli: list[str] | None = None,
    env: str | None = None,
    config: list[object] | None = None,
) -> Context:
    # The repository is a directory of its own: notify scripts live beside it, outside the
    # workspace (one inside is refused: a command could rewrite it).
    root = root / "repo"
    root.mkdir(exist_ok=True)
    if config is not None:
        trusted(root / "codex.orchestrator.json", json.dumps({"notify": config}))
    variables = {"CODEX_ORCHESTRATOR_ROOT": str(root), "DEPLOY_TOKEN": SECRET}
    if env is not None:
        variables["CODEX_ORCHESTRATOR_NOTIFY"] = env
    return Context.load(cwd=root, env=variables, cli={"notify": cli} if cli else None)


def _finish(context: Context, *, fail_guardrail: bool = False) -> dict[str, object]:
    run = Run.start(context, task_id="notify-task", heartbeat=False)
    run.emit(
        "approval:requested",
        {"key": "shell:deploy", "tool": "shell", "reason": f"deploy with {SECRET}"},
    )
    if fail_guardrail:
        run.emit(
            "guardrail:result",
            {
                "guardrail": {
                    "name": "lint",
                    "status": "failed",
                    "findings": [],
                    "durationMs": 1.0,
                    "cached": False,
                }
            },
        )
    run.finish("failed", detail=f"token {SECRET} rejected")
    manifest: dict[str, object] = json.loads(run.paths.manifest.read_text())
    return manifest


def test_webhook_command_and_file_targets_receive_redacted_payloads(tmp_path: Path) -> None:
    script = tmp_path / "hook.py"
    out = tmp_path / "command-got.json"
    script.write_text(f"import sys; open({str(out)!r}, 'a').write(sys.argv[-1] + '\\n')")
    jsonl = tmp_path / "notes.jsonl"
    with receiver() as (url, received):
        manifest = _finish(
            _context(tmp_path, cli=[url, f"{sys.executable} {script}", f"file://{jsonl}"]),
            fail_guardrail=True,
        )
    kinds = [body["type"] for body in received.json_bodies()]
    assert sorted(kinds) == ["approval-requested", "guardrail-failed", "run-complete"]
    complete = next(b for b in received.json_bodies() if b["type"] == "run-complete")
    assert complete["status"] == "failed" and complete["task"] == "notify-task"
    assert complete["failedGuardrails"] == ["lint"]
    assert complete["manifestPath"].endswith("manifest.json")
    command_lines = [json.loads(line) for line in out.read_text().splitlines()]
    turn = next(p for p in command_lines if p["type"] == "agent-turn-complete")
    assert turn["thread-id"] == complete["runId"] and "last-assistant-message" in turn
    assert len(jsonl.read_text().splitlines()) == 3
    everything = (
        "".join(b.decode() for _, b in received.requests)
        + out.read_text()
        + jsonl.read_text()
        + json.dumps(manifest)
    )
    assert SECRET not in everything
    summary = manifest["summary"]
    assert isinstance(summary, dict)
    notifications = summary["notifications"]
    assert len(notifications["delivered"]) == 9 and notifications["failures"] == []


def test_failures_are_recorded_and_never_hold_the_run(tmp_path: Path) -> None:
    with receiver(hang=10.0) as (url, _):
        started = time.monotonic()
        manifest = _finish(
            _context(
                tmp_path,
                config=[
                    {
                        "target": f"http://127.0.0.1:{closed_port()}/hook",
                        "events": ["run-complete"],
                        "timeout_seconds": 0.5,
                    },
                    {"target": url, "events": ["run-complete"], "timeout_seconds": 0.5},
                    {"target": "false", "events": ["run-complete"]},
                ],
            )
        )
        took = time.monotonic() - started
    summary = manifest["summary"]
    assert isinstance(summary, dict)
    reasons = [f["reason"] for f in summary["notifications"]["failures"]]
    assert len(reasons) == 3
    assert any("refused" in r.lower() for r in reasons)
    assert any("timed out" in r.lower() for r in reasons)
    assert any("exited with 1" in r for r in reasons)
    assert took < 5.0
    sinks = manifest["sinks"]
    assert isinstance(sinks, dict) and len(sinks["notify"]["failures"]) == 3


def test_a_500_then_success_counts_as_delivered(tmp_path: Path) -> None:
    with receiver(fail_first=1) as (url, received):
        manifest = _finish(_context(tmp_path, cli=[url]))
    summary = manifest["summary"]
    assert isinstance(summary, dict)
    assert summary["notifications"]["failures"] == []
    assert len(received.requests) == 3  # approval (500, retried) + run complete


@pytest.mark.parametrize(
    ("cli", "env", "config", "winner"),
    [
        (["file://cli.jsonl"], "file://env.jsonl", ["file://config.jsonl"], "cli"),
        (None, "file://env.jsonl", ["file://config.jsonl"], "env"),
        (None, None, ["file://config.jsonl"], "config"),
    ],
)
def test_precedence_is_cli_then_env_then_config(
    tmp_path: Path,
    cli: list[str] | None,
    env: str | None,
    config: list[object],
    winner: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    context = _context(tmp_path, cli=cli, env=env, config=config)
    _finish(context)
    written = sorted(p.name for p in tmp_path.glob("*.jsonl"))
    assert written == [f"{winner}.jsonl"]


def _alive(pid: int) -> bool:
    # A killed process whose parent is gone may linger as a zombie until init reaps it.
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != "Z"


def test_a_hanging_notify_command_and_its_children_are_killed_at_its_timeout(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    script = tmp_path / "hang.sh"
    script.write_text(f"sleep 30 &\necho $$ $! > {pids}\nsleep 30\n")
    target = f"sh {script}"
    manifest = _finish(
        _context(
            tmp_path,
            config=[{"target": target, "events": ["run-complete"], "timeout_seconds": 0.5}],
        )
    )
    summary = manifest["summary"]
    assert isinstance(summary, dict)
    failures = summary["notifications"]["failures"]
    assert [(f["target"], f["event"]) for f in failures] == [(target, "run-complete")]
    assert "killed" in failures[0]["reason"]
    sinks = manifest["sinks"]
    assert isinstance(sinks, dict) and sinks["notify"]["error"].startswith(target)
    shell, child = (int(p) for p in pids.read_text().split())
    deadline = time.monotonic() + 5.0  # SIGKILL is immediate; this only waits for the reaping
    while (_alive(shell) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(shell) and not _alive(child)


def test_hanging_targets_together_hold_the_run_no_longer_than_the_bound(tmp_path: Path) -> None:
    from pytest_codex.sinks.notify import GRACE

    with receiver(hang=10.0) as (url, _):
        entries: list[object] = [
            {"target": f"{url}/{i}", "events": ["run-complete"], "timeout_seconds": 1}
            for i in range(3)
        ]
        entries.append({"target": "sleep 30", "events": ["run-complete"], "timeout_seconds": 1})
        context = _context(tmp_path, config=entries)
        run = Run.start(context, task_id="notify-task", heartbeat=False)
        started = time.monotonic()
        run.finish("succeeded")
        took = time.monotonic() - started
    failures = run.manifest.document["summary"]["notifications"]["failures"]
    assert sorted(f["target"] for f in failures) == sorted(
        [f"{url}/0", f"{url}/1", f"{url}/2", "sleep 30"]
    )
    # The documented bound: the longest target timeout plus GRACE, for all targets together
    # (the slack covers writing the manifest).
    assert took < 1 + GRACE + 1.0


def test_a_hanging_webhook_and_a_hanging_collector_together_stay_within_both_bounds(
    tmp_path: Path,
) -> None:
    from pytest_codex.sinks.notify import GRACE

    with receiver(hang=10.0) as (url, _):
        trusted(
            tmp_path / "codex.orchestrator.json",
            json.dumps(
                {
                    "notify": [{"target": url, "timeout_seconds": 1}],
                    "otel": {"endpoint": url, "flush_timeout_seconds": 1},
                }
            ),
        )
        context = Context.load(cwd=tmp_path, env={"CODEX_ORCHESTRATOR_ROOT": str(tmp_path)})
        run = Run.start(context, task_id="both-hang", heartbeat=False)
        run.emit("approval:requested", {"key": "k", "tool": "shell", "reason": "r"})
        started = time.monotonic()
        run.finish("succeeded")
        took = time.monotonic() - started
    document = run.manifest.document
    assert document["status"] == "succeeded"
    assert {f["event"] for f in document["summary"]["notifications"]["failures"]} == {
        "approval-requested",
        "run-complete",
    }
    assert document["sinks"]["otel"]["exportedSpans"] == 0
    # notifications: the longest timeout + GRACE; OTEL: its flush timeout; slack for the rest
    assert took < (1 + GRACE) + 1 + 1.0
