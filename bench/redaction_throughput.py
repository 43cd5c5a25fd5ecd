"""What redaction costs: 1 GiB through one pipe-mode command, redaction on vs off.

Run: .venv/bin/python bench/redaction_throughput.py [MiB]

Both runs stream every chunk as an event into a real run's events.jsonl and the output into
the command's log, as ``exec`` does. "on" is the default: one StreamRedactor per stream (the
environment holds a few secret-looking variables, so the keyword automaton carries their
values too); "off" is ``ExecSessionManager(redact=False)``: bytes go to the log as read (the
bus still redacts each event, as it always does). The line is test-runner output that
contains a keyword ("passed"), so the pattern check runs at every line: a pessimistic case.
Prints MiB/s for both and the ratio, in the same run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import sys, time
from pathlib import Path
from pytest_codex.context import Context
from pytest_codex.run import Run
from pytest_codex.runtime import ExecSessionManager

root, mib, redact = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "on"
run = Run.start(Context.load(env={"CODEX_ORCHESTRATOR_ROOT": str(root)}), task_id="bench",
                heartbeat=False)
line = "tests/unit/test_app.py::test_login passed in 0.31s; compiled src/app/core.py ok"
with ExecSessionManager(redact=redact) as manager:
    started = time.perf_counter()
    result = manager.run(["sh", "-c", f"yes '{line}' | head -c {mib}M"], mode="pipe",
                         emitter=run, log_path=run.paths.commands_dir / "01-big.log")
    took = time.perf_counter() - started
run.finish("succeeded")
total = (run.paths.commands_dir / "01-big.log").stat().st_size
print(f"{total / 2**20 / took:.1f}")
"""

SECRETS = {
    "BENCH_API_TOKEN": "bench-token-0123456789abcdef",
    "BENCH_DB_PASSWORD": "bench-password-fedcba9876543210",
    "AWS_SECRET_ACCESS_KEY": "bench/aws/secret/key/0123456789abcdefghij",
}


def _measure(mib: int, mode: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / ".git").mkdir()
        env = {**os.environ, **SECRETS}
        done = subprocess.run(
            [sys.executable, "-c", CHILD, tmp, str(mib), mode],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
        return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    off = _measure(mib, "off")
    on = _measure(mib, "on")
    print(f"{mib} MiB through exec (pipe mode, events and log written):")
    print(f"  redaction off: {off:.1f} MiB/s")
    print(f"  redaction on:  {on:.1f} MiB/s")
    print(f"  on/off: {on / off:.2f} ({(1 - on / off) * 100:.0f}% slower)")


if __name__ == "__main__":
    main()
