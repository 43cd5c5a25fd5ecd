"""A run is marked abandoned only when its writer is gone, however late its heartbeats."""

from __future__ import annotations

import time
from pathlib import Path

from pytest_codex.context import Context
from pytest_codex.manifest import load_manifest, mark_abandoned
from pytest_codex.paths import ROOT_ENV
from pytest_codex.run import Run


def test_a_live_run_with_late_heartbeats_is_never_marked_abandoned(tmp_path: Path) -> None:
    context = Context.load(cwd=tmp_path, env={ROOT_ENV: str(tmp_path)})
    live = Run.start(context, task_id="lock-task", heartbeat=False)
    try:
        an_hour_later = time.time() + 3600  # its heartbeat is long stale by then
        assert mark_abandoned(live.paths.task_dir, by="test", now=an_hour_later) == []
        assert load_manifest(live.paths.manifest)["status"] == "in_progress"
    finally:
        live.finish("succeeded")
    assert load_manifest(live.paths.manifest)["status"] == "succeeded"


def test_a_run_whose_writer_is_gone_is_marked_abandoned(tmp_path: Path) -> None:
    context = Context.load(cwd=tmp_path, env={ROOT_ENV: str(tmp_path)})
    dead = Run.start(context, task_id="lock-task", heartbeat=False)
    assert dead._run_lock is not None
    dead._run_lock.release()  # what the kernel does for a writer that was killed
    [marked] = mark_abandoned(dead.paths.task_dir, by="test", now=time.time() + 3600)
    assert marked == dead.paths.manifest
    document = load_manifest(dead.paths.manifest)
    assert (
        document["status"] == "abandoned"
        and "marked abandoned by test" in (document["statusDetail"])
    )
