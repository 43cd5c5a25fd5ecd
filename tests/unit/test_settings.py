"""One settings view: every reader of the configuration builds its orchestrator the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guardrails import GuardrailSession
from pytest_codex.cli import build_parser
from pytest_codex.cli import start as start_command
from pytest_codex.config import (
    DEFAULTS,
    ExecSettings,
    OrchestratorSettings,
    RunSettings,
    resolve_config,
)
from pytest_codex.context import Context
from pytest_codex.emitter import RecordingEmitter
from pytest_codex.orchestrator import ToolOrchestrator
from pytest_codex.paths import ROOT_ENV
from pytest_codex.run import Run
from tests.helpers.trust import trusted

TASK = "0505-settings"
CONFIG = """\
task: 0505-settings
approval_policy: never
sandbox: read-only
max_attempts: 5
backoff_initial_ms: 1000
approvals: { scope: session, allow: ["git status"] }
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    trusted(tmp_path / "codex.orchestrator.yaml", CONFIG)
    return tmp_path


def _context(repo: Path) -> Context:
    return Context.load(cwd=repo, env={ROOT_ENV: str(repo)})


def _settings_of(orchestrator: ToolOrchestrator) -> dict[str, Any]:
    return {
        "policy": orchestrator.policy,
        "sandbox": orchestrator.sandbox.mode,
        "max_attempts": orchestrator.max_attempts,
        "backoff_initial": orchestrator.backoff_initial,
        "scope": orchestrator.chain.default_scope,
    }


EXPECTED = {
    "policy": "never",
    "sandbox": "read-only",
    "max_attempts": 5,
    "backoff_initial": 1.0,
    "scope": "session",
}


def test_defaults_are_the_views_defaults() -> None:
    view = RunSettings.from_config(None)
    assert view.orchestrator == OrchestratorSettings()
    assert DEFAULTS["backoff_initial_ms"] == view.orchestrator.backoff_initial_ms == 250.0
    assert view.orchestrator.approvals.scope == "once"
    assert view.heartbeat_interval_seconds == DEFAULTS["heartbeat_interval_seconds"]
    assert view.exec == ExecSettings()


def test_the_view_reads_nested_settings(repo: Path) -> None:
    config = resolve_config(repo, env={})
    view = config.settings().orchestrator
    assert view.approvals.scope == "session"
    assert view.approvals.allow == ("git status",)
    assert view.backoff_initial_seconds == 1.0


def test_a_run_orchestrator_uses_the_view(repo: Path) -> None:
    # `start`, `exec`, pytest and guardrail items all build theirs with for_run.
    run = Run.start(_context(repo), heartbeat=False)
    try:
        assert _settings_of(ToolOrchestrator.for_run(run)) == EXPECTED
    finally:
        run.finish("succeeded")


def _start_context(repo: Path, monkeypatch: pytest.MonkeyPatch, *flags: str) -> Context:
    monkeypatch.setenv(ROOT_ENV, str(repo))
    monkeypatch.chdir(repo)
    return start_command._context(build_parser().parse_args(["start", "diagnostics", *flags]))


def test_start_reads_the_same_settings(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = Run.start(_start_context(repo, monkeypatch), heartbeat=False)
    try:
        assert _settings_of(ToolOrchestrator.for_run(run)) == EXPECTED
    finally:
        run.finish("succeeded")


def test_start_flags_win_over_the_file(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    context = _start_context(repo, monkeypatch, "--sandbox", "workspace-write")
    assert context.config.source("sandbox") == "cli"
    assert context.config.settings().orchestrator.sandbox == "workspace-write"


def test_checklist_verify_session_uses_the_view(repo: Path) -> None:
    # `checklist verify` runs its guardrails in a standalone session.
    session = GuardrailSession.standalone(_context(repo), TASK, emitter=RecordingEmitter())
    assert _settings_of(session._shared_orchestrator()) == EXPECTED


def test_guardrail_session_of_a_run_uses_the_view(repo: Path) -> None:
    run = Run.start(_context(repo), heartbeat=False)
    try:
        session = GuardrailSession.for_run(run)
        assert _settings_of(session._shared_orchestrator()) == EXPECTED
    finally:
        run.finish("succeeded")


def test_exec_settings_view(repo: Path) -> None:
    trusted(
        repo / "codex.orchestrator.yaml",
        CONFIG + "exec: { memory_cap_bytes: 2048, max_sessions: 2, timeout_seconds: 1.5 }\n",
    )
    view = _context(repo).config.settings().exec
    assert view == ExecSettings(memory_cap_bytes=2048, max_sessions=2, timeout_seconds=1.5)
    assert view.manager_options() == {
        "max_sessions": 2,
        "idle_timeout": 900.0,
        "memory_cap": 2048,
        "raw_logs": False,
    }


def test_max_sessions_bounds_the_exec_runtime(tmp_path: Path) -> None:
    from pytest_codex.runtime import ExecSessionManager

    view = ExecSettings.from_config({"exec": {"max_sessions": 2}})
    with ExecSessionManager(**view.manager_options()) as manager:
        first = manager.open(cwd=tmp_path)
        manager.open(cwd=tmp_path)
        manager.open(cwd=tmp_path)
        assert len(manager.list()) == 2
        assert first.id not in {s["id"] for s in manager.list()}


def test_run_option_choices_are_the_policy_and_sandbox_constants() -> None:
    from pytest_codex.approvals import APPROVAL_POLICIES
    from pytest_codex.run_options import RUN_OPTIONS
    from pytest_codex.sandbox import SANDBOX_MODES

    choices = {o.key: o.choices for o in RUN_OPTIONS if o.choices is not None}
    assert choices == {"approval_policy": APPROVAL_POLICIES, "sandbox": SANDBOX_MODES}


def test_one_table_renders_the_cli_and_the_pytest_options() -> None:
    from pytest_codex.cli.docs import option_strings
    from pytest_codex.run_options import RUN_OPTIONS

    flags = option_strings()
    for command in ("codex-orchestrator exec", "codex-orchestrator start"):
        assert {o.flag for o in RUN_OPTIONS} <= set(flags[command]), command


def test_finish_on_error_finishes_the_run_and_reraises(repo: Path) -> None:
    import json

    from pytest_codex.execution import finish_on_error

    failed = Run.start(_context(repo), heartbeat=False)
    with pytest.raises(ValueError), finish_on_error(failed):
        raise ValueError("boom")
    cancelled = Run.start(_context(repo), heartbeat=False)
    with pytest.raises(KeyboardInterrupt), finish_on_error(cancelled):
        raise KeyboardInterrupt
    documents = [json.loads(r.paths.manifest.read_text()) for r in (failed, cancelled)]
    assert [d["status"] for d in documents] == ["failed", "cancelled"]
    assert "ValueError: boom" in json.dumps(documents[0])


def test_output_schema_checking_is_library_code(tmp_path: Path) -> None:
    from pytest_codex.errors import UsageError
    from pytest_codex.output_schema import load_output_schema, structured_output

    path = tmp_path / "schema.json"
    path.write_text('{"type": "object", "required": ["ok"]}')
    schema = load_output_schema(path)
    assert schema is not None
    assert structured_output('noise\n{"ok": true}\n', schema) == ({"ok": True}, None)
    assert (
        structured_output("{}", schema)[1] == "--output-schema: <root>: 'ok' is a required property"
    )
    assert structured_output("not json", schema)[1] == (
        "--output-schema: the command's final stdout is not JSON"
    )
    path.write_text('{"type": 5}')
    with pytest.raises(UsageError, match="not a valid JSON Schema"):
        load_output_schema(path)
    with pytest.raises(UsageError, match="file not found"):
        load_output_schema(tmp_path / "missing.json")
