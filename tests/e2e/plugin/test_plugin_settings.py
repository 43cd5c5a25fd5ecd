"""The pytest adapter reads the same settings view as the CLI (pytester)."""

from __future__ import annotations

import pytest

from tests.helpers.trust import trusted

CONFIG = """\
approval_policy: never
sandbox: read-only
max_attempts: 5
backoff_initial_ms: 1000
approvals: { scope: session }
"""


@pytest.fixture(autouse=True)
def _isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCP_RUNNER_TASK_ID", raising=False)
    monkeypatch.setenv("CODEX_ORCHESTRATOR_ROOT", str(pytester.path))
    monkeypatch.setenv("CODEX_ORCHESTRATOR_GUARDRAILS", "none")


def test_fixtures_build_their_orchestrators_from_the_settings_view(
    pytester: pytest.Pytester,
) -> None:
    trusted(pytester.path / "codex.orchestrator.yaml", CONFIG)
    pytester.makepyfile(
        """
def facts(orchestrator):
    return (
        orchestrator.policy,
        orchestrator.sandbox.mode,
        orchestrator.max_attempts,
        orchestrator.backoff_initial,
        orchestrator.chain.default_scope,
    )

EXPECTED = ("never", "read-only", 5, 1.0, "session")

def test_guardrail_fixture(codex_guardrails):
    assert facts(codex_guardrails.session._shared_orchestrator()) == EXPECTED

def test_tool_orchestrator_fixture(tool_orchestrator):
    assert facts(tool_orchestrator) == EXPECTED
"""
    )
    pytester.runpytest("--codex-task", "0505-settings").assert_outcomes(passed=2)


def test_an_empty_task_variable_means_unset(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_RUNNER_TASK_ID", "")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert not (pytester.path / ".runs").exists()


def test_run_options_are_declared_from_the_shared_table(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--codex-task", "0505-settings", "--codex-sandbox=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--codex-sandbox*invalid choice*read-only*"])
