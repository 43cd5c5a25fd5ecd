"""Start-up cost: `codex-orchestrator exec --jsonl [--pipe] -- true` vs `true`.

Run: .venv/bin/python bench/exec_startup.py [repetitions]
Goal: ``exec --jsonl --pipe -- true`` at most 60 ms more than ``true`` (median wall time of
interleaved runs). CPU time (user + system, children included) is printed as well: on a
machine shared with other work it moves far less than wall time. Bytecode is written and
used (``PYTHONDONTWRITEBYTECODE`` unset), as in an installed package; a warm-up run fills it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _stats import timed as timed_seconds

GOAL_MS = 60.0


def timed(argv: list[str], **kwargs: object) -> tuple[float, float]:
    """(wall ms, CPU ms of the child and its children) of one command."""
    took, cpu = timed_seconds(argv, **kwargs)
    return took * 1000, cpu * 1000


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    cli = shutil.which("codex-orchestrator", path=str(Path(sys.executable).parent))
    assert cli, "install the package first (make install)"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "init", "-q", tmp], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
        env.update({"MCP_RUNNER_TASK_ID": "bench", "CODEX_ORCHESTRATOR_ROOT": tmp})
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        variants = {
            "true": ["true"],
            "python -c pass": [sys.executable, "-c", "pass"],
            "exec --jsonl --pipe -- true": [cli, "exec", "--jsonl", "--pipe", "--", "true"],
            "exec --jsonl -- true (pty)": [cli, "exec", "--jsonl", "--", "true"],
        }
        for argv in variants.values():  # warm-up: bytecode, page cache, the signing key
            timed(argv, cwd=tmp, env=env)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(repetitions):  # interleaved, so drift hits every variant alike
            for name, argv in variants.items():
                samples[name].append(timed(argv, cwd=tmp, env=env))
    base_wall = statistics.median(s[0] for s in samples["true"])
    base_cpu = statistics.median(s[1] for s in samples["true"])
    for name, runs in samples.items():
        wall = statistics.median(s[0] for s in runs)
        cpu = statistics.median(s[1] for s in runs)
        print(
            f"{name}: median wall {wall:.1f} ms (+{wall - base_wall:.1f} ms), "
            f"CPU {cpu:.1f} ms (+{cpu - base_cpu:.1f} ms)"
        )
    added = statistics.median(s[0] for s in samples["exec --jsonl --pipe -- true"]) - base_wall
    verdict = "met" if added <= GOAL_MS else "NOT met"
    print(
        f"exec --jsonl --pipe -- true vs true: +{added:.1f} ms (goal <= +{GOAL_MS:.0f}: {verdict})"
    )


if __name__ == "__main__":
    main()
