"""Start-up cost: `codex-orchestrator exec --jsonl -- true` wall time vs `true`.

Run: .venv/bin/python bench/exec_startup.py [repetitions]
Goal: at most 150 ms added (median).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import wall


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    cli = shutil.which("codex-orchestrator", path=str(Path(sys.executable).parent))
    assert cli, "install the package first (make install)"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "init", "-q", tmp], check=True)
        env = {**os.environ, "MCP_RUNNER_TASK_ID": "bench", "CODEX_ORCHESTRATOR_ROOT": tmp}
        env.pop("CODEX_ORCHESTRATOR_VALIDATE", None)
        plain = [wall(["true"]) * 1000 for _ in range(repetitions)]
        results = {}
        for label, extra in (("pty (default)", []), ("--pipe", ["--pipe"])):
            results[label] = [
                wall([cli, "exec", "--jsonl", *extra, "--", "true"], cwd=tmp, env=env) * 1000
                for _ in range(repetitions)
            ]
    base = statistics.median(plain)
    print(f"true: median {base:.1f} ms")
    for label, samples in results.items():
        median = statistics.median(samples)
        print(
            f"codex-orchestrator exec --jsonl {label} -- true: median {median:.1f} ms "
            f"(+{median - base:.1f} ms)"
        )


if __name__ == "__main__":
    main()
