"""The evidence rules that need a guardrail in the run: a failed one, or a dry run."""

from __future__ import annotations

from pathlib import Path

from guardrails import Finding, Guardrail, GuardrailSession
from guardrails.api import Inputs, Result
from guardrails.context import GuardrailContext
from guardrails.evidence import check_evidence
from pytest_codex.attestation import EvidencePolicy
from pytest_codex.context import Context
from pytest_codex.execution import execute_command
from pytest_codex.paths import ROOT_ENV
from pytest_codex.run import Run

TASK = "1616-gauge-check"


class Strict(Guardrail):
    """Fails with one error finding."""

    name = "strict"
    version = "1"
    description = "always finds one problem"

    def inputs(self, ctx: GuardrailContext) -> Inputs:
        return Inputs(values={"always": True})

    def run(self, ctx: GuardrailContext) -> Result:
        return Result.from_findings([Finding("strict/always", "found one problem")])


def _run(root: Path, *, dry_run: bool) -> str:
    run = Run.start(
        Context.load(cwd=root, env={ROOT_ENV: str(root)}), task_id=TASK, heartbeat=False
    )
    execute_command(run, ["true"], cwd=root, mode="pipe")
    GuardrailSession.for_run(run, use_cache=False, dry_run=dry_run).run(Strict())
    run.finish("succeeded")
    return run.paths.manifest.relative_to(root).as_posix()


def test_a_run_with_a_failed_guardrail_is_no_evidence(tmp_path: Path) -> None:
    verdict = check_evidence(tmp_path, _run(tmp_path, dry_run=False), TASK, policy=EvidencePolicy())
    assert verdict.problem == "not-evidence"
    assert verdict.detail == "has failed guardrails (strict)"


def test_a_dry_run_is_no_evidence(tmp_path: Path) -> None:
    verdict = check_evidence(tmp_path, _run(tmp_path, dry_run=True), TASK, policy=EvidencePolicy())
    assert verdict.problem == "not-evidence"
    assert "is a dry run (strict" in str(verdict.detail)
