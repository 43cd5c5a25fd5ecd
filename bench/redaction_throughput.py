"""What redaction costs: 1 GiB through one pipe-mode command, redaction on vs off.

Run: .venv/bin/python bench/redaction_throughput.py [MiB]

Every run streams every chunk as an event into a real run's events.jsonl and the output into
the command's log, as ``exec`` does. "on" is the default: one StreamRedactor per stream (the
environment holds a few secret-looking variables, so the keyword automata carry their values
too); "off" is ``ExecSessionManager(redact=False)``: bytes go to the log as read (the bus
still redacts each event, as it always does). Two kinds of output:

- test-runner lines (``... passed in 0.31s; compiled ... ok``): ASCII without a keyword, so
  the bytes fast path takes every read (the common case);
- lines with keywords on every line (a URL and "auth"): every read takes the text path and
  the patterns run at each hit (the pessimistic case).

Prints MiB/s for each and the ratios to "off", in the same run.
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

root, mib, redact, line = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "on", sys.argv[4]
run = Run.start(Context.load(env={"CODEX_ORCHESTRATOR_ROOT": str(root)}), task_id="bench",
                heartbeat=False)
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


CLEAN = "tests/unit/test_app.py::test_login passed in 0.31s; compiled src/app/core.py ok"
KEYWORDS = "GET https://example.invalid/api/v1/items?page=2 -> 200 (auth ok, 13 ms)"


def _measure(mib: int, mode: str, line: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / ".git").mkdir()
        env = {**os.environ, **SECRETS}
        done = subprocess.run(
            [sys.executable, "-c", CHILD, tmp, str(mib), mode, line],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
        return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    off = _measure(mib, "off", CLEAN)
    on = _measure(mib, "on", CLEAN)
    hits = _measure(mib, "on", KEYWORDS)
    print(f"{mib} MiB through exec (pipe mode, events and log written):")
    print(f"  redaction off:                      {off:.1f} MiB/s")
    print(f"  redaction on, no keywords:          {on:.1f} MiB/s (on/off {on / off:.2f})")
    print(f"  redaction on, keywords every line:  {hits:.1f} MiB/s (on/off {hits / off:.2f})")


if __name__ == "__main__":
    main()
