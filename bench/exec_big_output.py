"""1 GiB of output through one command: peak RSS of the process and throughput vs cat.

Run: .venv/bin/python bench/exec_big_output.py [MiB]
Goal: peak RSS <= 40 MB (hard ceiling 75 MB). The run streams every chunk as an event into
a real run's events.jsonl and the full output into the command's log, as `exec` does.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import resource, sys, time
from pathlib import Path
from pytest_codex.context import Context
from pytest_codex.run import Run
from pytest_codex.runtime import ExecSessionManager

root, mib, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
run = Run.start(Context.load(env={"CODEX_ORCHESTRATOR_ROOT": str(root)}), task_id="bench",
                heartbeat=False)
with ExecSessionManager() as manager:
    started = time.perf_counter()
    # Text, as build and test logs are (NUL bytes would each become a 6-byte JSON escape).
    line = "0123456789abcdefghijklmnopqrstuvwxyz" * 3
    command = f"yes {line} | head -c {mib}M"
    if mode == "pipe":
        command = ["sh", "-c", command]
    result = manager.run(command, mode=mode, emitter=run,
                         log_path=run.paths.commands_dir / "01-big.log")
    took = time.perf_counter() - started
run.finish("succeeded")
total = sum(s.total for s in result.streams.values())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{mode}: {total / 2**20:.0f} MiB in {took:.2f} s = {total / 2**20 / took:.0f} MiB/s; "
      f"peak RSS {peak:.1f} MB; log {(run.paths.commands_dir / '01-big.log').stat().st_size} bytes")
"""


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    started = time.perf_counter()
    line = "0123456789abcdefghijklmnopqrstuvwxyz" * 3
    subprocess.run(f"yes {line} | head -c {mib}M | cat > /dev/null", shell=True, check=True)
    took = time.perf_counter() - started
    print(f"baseline: yes | head | cat > /dev/null: {mib / took:.0f} MiB/s")
    for mode in ("pipe", "pty"):
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / ".git").mkdir()
            subprocess.run([sys.executable, "-c", CHILD, tmp, str(mib), mode], check=True)


if __name__ == "__main__":
    main()
