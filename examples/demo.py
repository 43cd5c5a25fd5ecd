"""The main job, end to end, on the bundled example repository.

Copies ``examples/demo-repo`` to ``.demo/ledger-demo`` (a fresh git repository) and then,
as a team working on task 0303-orchestrator-autonomy would:

0. trusts the repository's ``codex.orchestrator.yaml`` as it is (``trust``: its guardrail
   settings apply only once a person reviewed them);
1. runs ``pytest --codex-task 0303-orchestrator-autonomy``: the suite plus the built-in
   guardrails as test items, recorded as one run with its manifest;
2. ticks the first checklist item with that manifest as evidence (``checklist flip``);
3. verifies the checklist and the task collateral (``checklist verify``);
4. runs the ``diagnostics`` pipeline (build, lint, test, spec-guard) as another run;
5. records a reviewer hand-off on the pytest run's manifest (``review``);
6. shows that manifest (``runs show``).

Run it with ``make demo``; ``python examples/demo.py DIR`` builds the copy in DIR instead.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
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
CLI = [str(BIN / "codex-orchestrator")]


def sh(*argv: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> int:
    """Run a command, echoing it first (programs by name)."""
    print(f"\n$ {shlex.join([Path(argv[0]).name, *argv[1:]])}", flush=True)
    return subprocess.run(argv, cwd=cwd, env=env, check=check).returncode


def fresh_copy(target: Path) -> None:
    """The demo repository as a new git repository whose spec was reviewed today."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(SOURCE, target)
    today = dt.date.today().isoformat()
    for spec in (target / "tasks" / "specs").glob("*.md"):
        text = spec.read_text(encoding="utf-8")
        spec.write_text(re.sub(r"last_review: .*", f"last_review: {today}", text), "utf-8")
    git = ("git", "-c", "user.name=demo", "-c", "user.email=demo@example.invalid")
    sh("git", "init", "-q", "-b", "main", cwd=target)
    sh("git", "add", "-A", cwd=target)
    sh(*git, "commit", "-qm", "ledger demo", cwd=target)


def main(target: Path = TARGET) -> int:
    fresh_copy(target)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MCP_RUNNER_TASK_ID", "CODEX_ORCHESTRATOR_GUARDRAILS", "BASE_SHA")
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("CODEX_REVIEWER", "demo-reviewer")
    # Its guardrail settings decide what certifies the work: they apply once a person has
    # reviewed the file and trusted it as it is (docs/configuration.md#trust).
    sh(*CLI, "trust", "codex.orchestrator.yaml", cwd=target, env=env)

    status = sh(
        str(BIN / "python"), "-m", "pytest", "--codex-task", TASK, "-p", "no:cacheprovider",
        cwd=target, env=env, check=False,
    )  # fmt: skip
    manifests = sorted((target / ".runs" / TASK / "cli").glob("*/manifest.json"))
    if not manifests:
        print("demo: no manifest was written", file=sys.stderr)
        return 1
    manifest_path = manifests[-1]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    evidence = manifest_path.relative_to(target).as_posix()
    print(f"\nmanifest: {evidence} ({manifest['status']})")
    if status != 0:
        return status

    steps = [
        [*CLI, "checklist", "flip", "1", "--manifest", evidence, "--task", TASK],
        [*CLI, "checklist", "verify", "--task", TASK],
        [*CLI, "start", "diagnostics", "--task", TASK],
        [*CLI, "review", "--manifest", evidence, "--outcome", "approved",
         "--reason", "tests, guardrails and diagnostics green"],
        [*CLI, "runs", "show", manifest["runId"], "--task", TASK],
    ]  # fmt: skip
    for argv in steps:
        code = sh(*argv, cwd=target, env=env, check=False)
        if code != 0:
            print(f"demo: step failed with exit status {code}", file=sys.stderr)
            return code
    checklist = target / "tasks" / f"tasks-{TASK}.md"
    print(f"\n{checklist.relative_to(target)} now reads:")
    print(checklist.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else TARGET))
