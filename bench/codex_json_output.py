"""Codex ``exec --json`` stdout size for a command printing N bytes: linear in N.

Run: .venv/bin/python bench/codex_json_output.py [--sizes 1000000,104857600]
Goal: stdout bytes <= 1.5 x N + a constant (128 KiB: two aggregated-output caps), with
``item.updated`` throttled (at most 4 a second) and ``aggregated_output`` capped at 64 KiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINE = "0123456789abcdefghijklmnopqrstuvwxyz"
CONSTANT = 128 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=f"{1_000_000},{100 << 20}")
    args = parser.parse_args()
    cli = shutil.which("codex-orchestrator", path=str(Path(sys.executable).parent))
    assert cli, "install the package first (make install)"
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["git", "init", "-q", tmp], check=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "CODEX_"))}
            env["CODEX_ORCHESTRATOR_ROOT"] = tmp
            env["MCP_RUNNER_TASK_ID"] = "bench"
            script = f"yes {LINE} 2>/dev/null | head -c {size}"
            started = time.perf_counter()
            out = subprocess.run(
                [cli, "exec", "--json", "--pipe", "--", "sh", "-c", script],
                cwd=tmp,
                env=env,
                capture_output=True,
                check=True,
            ).stdout
            took = time.perf_counter() - started
        lines = [json.loads(line) for line in out.splitlines()]
        updates = sum(1 for line in lines if line.get("type") == "item.updated")
        longest = max(len(line.get("item", {}).get("aggregated_output", "")) for line in lines)
        bound = 1.5 * size + CONSTANT
        verdict = "met" if len(out) <= bound else "NOT met"
        print(
            f"N = {size} bytes: stdout {len(out)} bytes = {len(out) / size:.4f} x N "
            f"(goal <= 1.5 x N + {CONSTANT}: {verdict}); {updates} item.updated in "
            f"{took:.2f} s; largest aggregated_output {longest} chars"
        )


if __name__ == "__main__":
    main()
