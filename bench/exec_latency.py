"""Added latency of a no-op command through the exec runtime vs subprocess.run(['true']).

Three ways a command runs: pipe mode and a PTY command of its own (each its own process, the
status from the kernel), and a command in a named PTY shell session (no process started:
the status is what the session's shell prints).

Run: .venv/bin/python bench/exec_latency.py [iterations]
Goal: added latency p95 <= 5 ms.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import percentile, summary

from pytest_codex.emitter import RecordingEmitter
from pytest_codex.runtime import ExecSessionManager


def timed(action: object, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    baseline = timed(lambda: subprocess.run(["true"], check=True), n)
    with ExecSessionManager() as manager:
        emitter = RecordingEmitter()
        pipe = timed(lambda: manager.run(["true"], mode="pipe", emitter=emitter), n)
        process = timed(lambda: manager.run("true", emitter=emitter), n)
        manager.open("bench")
        pty = timed(lambda: manager.run("true", session_id="bench", emitter=emitter), n)
    print(summary("subprocess.run(['true'])", baseline))
    print(summary("runtime, pipe mode (kernel status)", pipe))
    print(summary("runtime, PTY process (kernel status)", process))
    print(summary("runtime, named PTY session (shell status)", pty))
    base_median, base_p95 = statistics.median(baseline), percentile(baseline, 0.95)
    for label, samples in (("pipe", pipe), ("pty process", process), ("pty session", pty)):
        print(
            f"added ({label}): median {statistics.median(samples) - base_median:+.3f} ms, "
            f"p95 {percentile(samples, 0.95) - base_p95:+.3f} ms"
        )


if __name__ == "__main__":
    main()
