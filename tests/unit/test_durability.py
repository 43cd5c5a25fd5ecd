"""What is fsynced: the run's outcome on disk, not every progress snapshot (docs/manifest.md,
"Durability"). fsync is observed (the real call still runs), never replaced."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from pytest_codex.atomic import atomic_write_text
from pytest_codex.context import Context
from pytest_codex.run import Run


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The names of the files (and directories) fsynced while the test runs."""
    seen: Counter[str] = Counter()
    real = os.fsync

    def observing(fd: int) -> None:
        seen[Path(os.readlink(f"/proc/self/fd/{fd}")).name] += 1
        real(fd)

    monkeypatch.setattr(os, "fsync", observing)
    return seen


def test_a_non_durable_write_is_still_a_complete_replacement(
    tmp_path: Path, fsynced: Counter[str]
) -> None:
    target = tmp_path / "doc.json"
    atomic_write_text(target, "old\n")
    atomic_write_text(target, "new\n", durable=False)
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]  # no temp file left
    assert sum(1 for name in fsynced if name.startswith(".doc.json")) == 1  # the first only


def test_a_run_fsyncs_its_outcome_not_its_progress(tmp_path: Path, fsynced: Counter[str]) -> None:
    context = Context.load(
        cwd=tmp_path,
        cli={"task": "t"},
        env={"CODEX_ORCHESTRATOR_ROOT": str(tmp_path), "HOME": str(tmp_path)},
    )
    run = Run.start(context, heartbeat=False)
    run.emit("metrics:update", {"metrics": {"x": 1}})
    run.manifest.beat()
    assert not any(name.startswith(".manifest.json") for name in fsynced)
    run.finish("succeeded")
    manifest = run.paths.manifest
    assert json.loads(manifest.read_text())["status"] == "succeeded"
    temp_files = Counter(
        name.split(".")[1] + "." + name.split(".")[2] for name in fsynced if name.startswith(".")
    )
    # The outcome (run:summary) and the closing write; the attestation; the task metrics.
    assert temp_files["manifest.json"] == 2
    assert temp_files["metrics.json"] == 1
    assert temp_files["state.json"] == 0
    assert temp_files["attestation.intoto"] <= 1  # signing may be off on this host
