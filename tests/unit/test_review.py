"""Reviews go through the run's bus: redacted, journalled, folded into the manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pytest_codex import schemas
from pytest_codex.context import Context
from pytest_codex.run import Run

SECRET = "hunter2-super-secret-value"


def test_a_secret_in_a_review_reason_is_redacted_in_the_manifest_and_the_journal(
    tmp_path: Path,
) -> None:
    context = Context.load(cwd=tmp_path, env={"CODEX_ORCHESTRATOR_ROOT": str(tmp_path)})
    with Run.start(context, task_id="review-secret", heartbeat=False) as run:
        pass
    seq_before = run.bus.seq
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest_codex.cli", "review",
            "--manifest", str(run.paths.manifest), "--outcome", "changes-requested",
            "--reason", f"the log prints the token {SECRET}", "--actor", "rv",
            "--format", "json",
        ],
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "CODEX_ORCHESTRATOR_ROOT": str(tmp_path),
            "DEPLOY_API_TOKEN": SECRET,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout
    manifest_text = run.paths.manifest.read_text()
    events_text = run.paths.events.read_text()
    assert SECRET not in manifest_text and SECRET not in events_text
    manifest = json.loads(manifest_text)
    schemas.validate("manifest", manifest)
    [review] = manifest["reviews"]
    assert review["reason"] == "the log prints the token [REDACTED]"
    assert manifest["status"] == "succeeded"
    last = json.loads(events_text.splitlines()[-1])
    assert last["type"] == "review:recorded" and last["seq"] == seq_before + 1
    assert last["payload"]["review"] == review


def _finished(tmp_path: Path, status: str) -> Run:
    context = Context.load(cwd=tmp_path, env={"CODEX_ORCHESTRATOR_ROOT": str(tmp_path)})
    run = Run.start(context, task_id="review-force", heartbeat=False)
    run.finish(status)
    return run


def _review(tmp_path: Path, manifest: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "pytest_codex.cli", "review", "--manifest", str(manifest),
            "--outcome", "approved", "--reason", "ship it", "--actor", "rv", *extra,
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "CODEX_ORCHESTRATOR_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


def test_approving_a_failed_run_is_refused_without_force(tmp_path: Path) -> None:
    run = _finished(tmp_path, "failed")
    refused = _review(tmp_path, run.paths.manifest)
    assert refused.returncode == 2
    [line] = refused.stderr.splitlines()
    assert "status failed" in line and "--force" in line
    assert json.loads(run.paths.manifest.read_text())["reviews"] == []
    forced = _review(tmp_path, run.paths.manifest, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "approved (forced)" in forced.stdout
    [review] = json.loads(run.paths.manifest.read_text())["reviews"]
    assert review["outcome"] == "approved" and review["forced"] is True


def test_the_library_refuses_approval_of_a_run_that_did_not_succeed(tmp_path: Path) -> None:
    import pytest

    from pytest_codex.errors import UsageError
    from pytest_codex.review import record_review

    run = _finished(tmp_path, "cancelled")
    with pytest.raises(UsageError, match="status cancelled"):
        record_review(run.paths.manifest, outcome="approved", reason="ok")
    # Other outcomes need no force, and force lets an approval through.
    assert record_review(run.paths.manifest, outcome="changes-requested", reason="fix")
    review = record_review(run.paths.manifest, outcome="approved", reason="ok", force=True)
    assert review["forced"] is True
    assert [r["outcome"] for r in json.loads(run.paths.manifest.read_text())["reviews"]] == [
        "changes-requested",
        "approved",
    ]
