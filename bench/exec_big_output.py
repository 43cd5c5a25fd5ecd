"""1 GiB of output through one command: throughput against the pipe's and the PTY's own
speed, peak RSS, and the run directory's size against the output's.

Run: .venv/bin/python bench/exec_big_output.py [--mib 1024] [--repeat 1]
Goals (ratios from one run, medians of interleaved repeats):
- pipe mode, redaction on, >= 60% of ``yes | head | cat > /dev/null`` on output without a
  keyword, and >= 25% on keyword-dense output (a keyword every 16 bytes: ``tokens``, ``keys``,
  ``auth``, ``session``; nothing to replace, so every read takes the full scan);
- PTY mode >= 80% of a bare PTY read loop (``pty.fork`` + ``os.read`` of 64 KiB);
- peak RSS <= 40 MB;
- run directory <= 1.05x the output (chunks past the inline limit reference the log).
The run streams every chunk as an event into a real run's events.jsonl and the full output
into the command's log, as ``exec`` does. ``--with-off`` also runs pipe mode with redaction
off (``ExecSessionManager(redact=False)``) against the same baseline: the ceiling that
redaction's cost is measured against.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import pty
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINE = "0123456789abcdefghijklmnopqrstuvwxyz" * 3  # text, as build and test logs are
# A keyword every 16 bytes, as in logs of code that handles tokens and keys.
DENSE = "tokens counted, api keys loaded auth module ok; session 42 open"

CHILD = """
import json, resource, sys, time
from pathlib import Path
from pytest_codex.context import Context
from pytest_codex.run import Run
from pytest_codex.runtime import ExecSessionManager
import shlex

root, mib, mode, line = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
redact = mode != "pipe-off"
mode = mode.removesuffix("-off").removesuffix("-dense")
run = Run.start(Context.load(env={"CODEX_ORCHESTRATOR_ROOT": str(root)}), task_id="bench",
                heartbeat=False)
with ExecSessionManager(redact=redact) as manager:
    started = time.perf_counter()
    command = f"yes {shlex.quote(line)} | head -c {mib}M"
    if mode == "pipe":
        command = ["sh", "-c", command]
    result = manager.run(command, mode=mode, emitter=run,
                         log_path=run.paths.commands_dir / "01-big.log")
    took = time.perf_counter() - started
run.finish("succeeded")
total = sum(s.total for s in result.streams.values())
run_dir = sum(p.stat().st_size for p in run.paths.run_dir.rglob("*") if p.is_file())
print(json.dumps({"seconds": took, "bytes": total, "run_dir": run_dir,
                  "events": (run.paths.run_dir / "events.jsonl").stat().st_size,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cat_baseline(mib: int, line: str = LINE) -> float:
    """Seconds for ``yes | head | cat > /dev/null``."""
    started = time.perf_counter()
    subprocess.run(
        f"yes {shlex.quote(line)} | head -c {mib}M | cat > /dev/null", shell=True, check=True
    )
    return time.perf_counter() - started


def pty_baseline(mib: int) -> float:
    """Seconds for a bare PTY read loop (pty.fork + os.read of 64 KiB) over the same output."""
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the same terminal settings as a session (no echo, no CR)
        os.execvp("sh", ["sh", "-c", f"stty -echo -onlcr; yes {LINE} | head -c {mib}M"])
    total = 0
    while True:
        try:
            data = os.read(fd, 64 * 1024)
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            break
        if not data:
            break
        total += len(data)
    os.close(fd)
    os.waitpid(pid, 0)
    assert total >= mib << 20, total
    return time.perf_counter() - started


def through_exec(mib: int, mode: str) -> dict[str, float]:
    """One run of the command in ``mode``, in a fresh root."""
    line = DENSE if mode.endswith("-dense") else LINE
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / ".git").mkdir()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, tmp, str(mib), mode, line],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--with-off", action="store_true", help="also pipe mode, redaction off")
    args = parser.parse_args()
    mib = args.mib
    ratios: dict[str, list[float]] = {"pipe": [], "pipe-dense": [], "pty": [], "pipe-off": []}
    cat = "yes | head | cat > /dev/null"
    modes = [
        ("pipe", cat_baseline, cat),
        ("pipe-dense", lambda mib: cat_baseline(mib, DENSE), cat + " (keyword-dense)"),
        ("pty", pty_baseline, "bare PTY read loop (pty.fork + os.read 64 KiB)"),
    ]
    if args.with_off:
        modes.append(("pipe-off", cat_baseline, cat))
    for _ in range(args.repeat):  # interleaved: each ratio's two sides run back to back
        for mode, baseline, label in modes:
            base = mib / baseline(mib)
            got = through_exec(mib, mode)
            speed = got["bytes"] / 2**20 / got["seconds"]
            ratios[mode].append(speed / base)
            print(
                f"{mode}: {got['bytes'] / 2**20:.0f} MiB at {speed:.0f} MiB/s vs {label} "
                f"{base:.0f} MiB/s = {speed / base:.0%}; peak RSS {got['rss_mb']:.1f} MB; "
                f"run dir {got['run_dir'] / got['bytes']:.4f}x the output "
                f"(events.jsonl {got['events']} bytes)"
            )
    for mode, goal in (("pipe", 0.60), ("pipe-dense", 0.25), ("pty", 0.80)):
        median = statistics.median(ratios[mode])
        verdict = "met" if median >= goal else "NOT met"
        print(f"{mode} throughput ratio: median {median:.0%} (goal >= {goal:.0%}: {verdict})")
    if ratios["pipe-off"]:
        median = statistics.median(ratios["pipe-off"])
        print(f"pipe-off (redaction off) throughput ratio: median {median:.0%} (no goal)")


if __name__ == "__main__":
    main()
