"""A writer killed with SIGKILL at random moments never leaves a broken manifest behind."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from pytest_codex import schemas
from pytest_codex.manifest import is_stale

WRITER = """
import sys
from pytest_codex.context import Context
from pytest_codex.run import Run

root = sys.argv[1]
context = Context.load(env={"CODEX_ORCHESTRATOR_ROOT": root})
run = Run.start(context, task_id="kill-task")
run.manifest.min_interval = 0.0  # write on every event: as many chances to tear as we can
print("started", flush=True)
n = 0
while True:
    n += 1
    run.emit("test:result", {"test": {"nodeid": f"t::{n}", "outcome": "passed",
        "durationMs": 1.0, "markers": [], "location": {"path": "t", "line": n}, "failure": None}})
    run.emit("stage:end", {"stage": {"id": f"s{n}", "kind": "command", "status": "succeeded"}})
"""


def test_sigkill_at_random_moments_leaves_every_manifest_valid(tmp_path: Path) -> None:
    rng = random.Random(20261124)
    env = {**os.environ, "CODEX_ORCHESTRATOR_VALIDATE": "0", "PYTHONUNBUFFERED": "1"}
    kills = 40
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "started"
        time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()

    manifests = sorted((tmp_path / ".runs" / "kill-task" / "cli").glob("*/manifest.json"))
    assert len(manifests) == kills
    written = 0
    for path in manifests:
        manifest = json.loads(path.read_text())  # parseable...
        schemas.validate("manifest", manifest, what=str(path))  # ...and schema-valid
        # Killed mid-way: still in progress, or already marked abandoned by a later writer
        # of the task that found its heartbeat stale and its lock free (a slow machine).
        assert manifest["status"] in ("in_progress", "abandoned")
        if manifest["status"] == "in_progress":
            assert is_stale(manifest, now=time.time() + 3600)
        written += len(manifest["tests"])
        lines = (path.parent / "events.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in lines]  # whole lines only
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        # The manifest never claims more than the events say happened.
        assert len(manifest["tests"]) <= sum(e["type"] == "test:result" for e in events)
        leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
        assert all(name.startswith(".manifest.json.") for name in leftovers)
    assert written > 0, "the writers never got far enough to write a test record"
