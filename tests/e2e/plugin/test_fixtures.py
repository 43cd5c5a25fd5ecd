"""Fixtures downstream suites use: exec runtime, tool orchestrator, approvals (pytester)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

CLI = (sys.executable, "-m", "pytest_codex.cli")


@pytest.fixture(autouse=True)
def _isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCP_RUNNER_TASK_ID", raising=False)
    monkeypatch.setenv("CODEX_ORCHESTRATOR_ROOT", str(pytester.path))
    # These tests pin the fixtures; guardrail items are tested in test_guardrail_items.py.
    monkeypatch.setenv("CODEX_ORCHESTRATOR_GUARDRAILS", "none")


def test_exec_session_drives_an_interactive_program(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        ask="name = input('name? ')\nprint('hello', name)\n",
        test_drive="""
import os, sys

def test_prompt(exec_manager, exec_session):
    assert exec_manager.run("export COLOUR=blue", session_id=exec_session.id).exit_code == 0
    handle = exec_manager.start(
        f"{sys.executable} {os.path.abspath('ask.py')}", session_id=exec_session.id
    )
    handle.read_until("name[?] ")
    handle.send("Ada\\n")
    result = handle.result()
    assert result.exit_code == 0 and result.text().endswith("hello Ada\\n")
    assert exec_manager.run("echo $COLOUR", session_id=exec_session.id).text() == "blue\\n"

def test_sessions_are_gone_after_the_test(exec_manager):
    assert exec_manager.list() == []
""",
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_tool_orchestrator_with_scripted_approver_and_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

def test_scripted(tool_orchestrator, scripted_approver):
    scripted_approver.queue("approve")
    result = tool_orchestrator.run(["true"], requires_approval=True)
    assert result.ok and result.record["approvalSource"] == "prompt"
    assert len(scripted_approver.requests) == 1

@pytest.mark.codex_approval("shell:true", scope="session")
def test_pregranted(tool_orchestrator, scripted_approver):
    result = tool_orchestrator.run(["true"], requires_approval=True)
    assert result.ok and result.record["approvalSource"] == "cache"
    assert scripted_approver.requests == []
"""
    )
    result = pytester.runpytest("--strict-markers", "--codex-task=fixtures-task")
    result.assert_outcomes(passed=2)
    [manifest] = [
        json.loads(p.read_text())
        for p in (pytester.path / ".runs" / "fixtures-task" / "cli").glob("*/manifest.json")
    ]
    sources = sorted(run["approvalSource"] for run in manifest["toolRuns"])
    assert sources == ["cache", "prompt"]


def test_approvals_cli_lists_and_revokes_task_grants(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    from pytest_codex.approvals import ApprovalCache, ApprovalKey

    cache = ApprovalCache.for_task(pytester.path / ".runs", "grants")
    for key in ("shell:git status", "shell:ruff check"):
        cache.grant(ApprovalKey.parse(key), scope="task", approver="test")
    listed = pytester.run(*CLI, "approvals", "list", "--task", "grants", "--format", "json")
    assert listed.ret == 0
    keys = sorted(g["key"] for g in json.loads(listed.stdout.str()))
    assert len(keys) == 2
    revoked = pytester.run(*CLI, "approvals", "revoke", keys[0], "--task", "grants")
    assert revoked.ret == 0
    again = json.loads(
        pytester.run(*CLI, "approvals", "list", "--task", "grants", "--format", "json").stdout.str()
    )
    assert [g["key"] for g in again] == [keys[1]]
    bad = pytester.run(*CLI, "approvals", "list", "--task", "../x")
    assert bad.ret == 2
