"""Approvals as the orchestrator applies them, with real commands: exact keys, deny rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_codex.approvals import ApprovalCache, ScriptedApprover
from pytest_codex.emitter import RecordingEmitter
from pytest_codex.orchestrator import ToolOrchestrator, ToolRefusedError


def test_a_session_grant_is_not_borrowed_by_a_command_that_redacts_alike(
    workspace: Path,
) -> None:
    approver = ScriptedApprover([("approve", "session"), "deny"])
    emitter = RecordingEmitter()
    orchestrator = ToolOrchestrator(
        emitter, workspace=workspace, approver=approver, cache=ApprovalCache()
    )
    assert orchestrator.run(["echo", "--key=abc"], requires_approval=True).ok
    forged = ["sh", "-c", "echo x", "--key=;touch${IFS}PWNED"]
    with pytest.raises(ToolRefusedError):
        orchestrator.run(["echo", "--key=;touch${IFS}PWNED"], requires_approval=True)
    with pytest.raises(ToolRefusedError):
        orchestrator.run(forged, requires_approval=True)
    assert approver.asked == 3  # the first answer was remembered for its own command only
    assert orchestrator.run(["echo", "--key=abc"], requires_approval=True).ok
    assert approver.asked == 3
    keys = [e["key"] for e in emitter.of_type("approval:requested")]
    assert all("abc" not in k and "PWNED" not in k for k in keys[:2])
    assert len(set(keys)) == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["sh", "-e", "-c", "rm -fr victim"],
        ["bash", "-xc", "true && rm --recursive --force victim"],
        ["rm", "-R", "-f", "victim"],
    ],
)
def test_deny_rules_refuse_every_spelling_before_anything_runs(
    argv: list[str], workspace: Path
) -> None:
    (workspace / "victim").mkdir()
    orchestrator = ToolOrchestrator(
        RecordingEmitter(), workspace=workspace, policy="on-failure", rules={"deny": ["rm -rf"]}
    )
    with pytest.raises(ToolRefusedError, match="rule:rm -rf"):
        orchestrator.run(argv)
    assert (workspace / "victim").is_dir()
