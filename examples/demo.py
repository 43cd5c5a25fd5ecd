"""The main job, end to end, on the bundled example repository.

Copies ``examples/demo-repo`` to ``.demo/ledger-demo`` (a fresh git repository), runs
``pytest --codex-task 0303-orchestrator-autonomy`` there, then shows where the run manifest is
and what it says. Run it with ``make demo``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

TASK = "0303-orchestrator-autonomy"
HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
SOURCE = HERE / "demo-repo"
TARGET = PROJECT / ".demo" / "ledger-demo"
BIN = Path(sys.executable).parent


def sh(*argv: str, cwd: Path, check: bool = True) -> int:
    """Run a command, echoing it first."""
    print(f"$ {' '.join(argv)}", flush=True)
    return subprocess.run(argv, cwd=cwd, check=check).returncode


def main() -> int:
    if TARGET.exists():
        shutil.rmtree(TARGET)
    shutil.copytree(SOURCE, TARGET)
    git = ("git", "-c", "user.name=demo", "-c", "user.email=demo@example.invalid")
    sh("git", "init", "-q", "-b", "main", cwd=TARGET)
    sh("git", "add", "-A", cwd=TARGET)
    sh(*git, "commit", "-qm", "ledger demo", cwd=TARGET)

    env = {k: v for k, v in os.environ.items() if k != "MCP_RUNNER_TASK_ID"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    print(f"$ pytest --codex-task {TASK}   (in {TARGET})", flush=True)
    status = subprocess.run(
        [str(BIN / "python"), "-m", "pytest", "--codex-task", TASK, "-p", "no:cacheprovider"],
        cwd=TARGET,
        env=env,
    ).returncode

    manifests = sorted((TARGET / ".runs" / TASK / "cli").glob("*/manifest.json"))
    if not manifests:
        print("demo: no manifest was written", file=sys.stderr)
        return 1
    manifest_path = manifests[-1]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    print()
    print(f"manifest: {manifest_path}")
    subprocess.run(
        [str(BIN / "codex-orchestrator"), "runs", "show", manifest["runId"], "--task", TASK],
        cwd=TARGET,
        env=env,
        check=False,
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
