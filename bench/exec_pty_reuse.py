"""100 sequential `echo` commands in one reused PTY session vs 100 fresh spawns.

Run: .venv/bin/python bench/exec_pty_reuse.py
Goal: the reused session at least 3x faster.
"""

from __future__ import annotations

import time

from pytest_codex.runtime import ExecSessionManager

COMMANDS = 100


def main() -> None:
    with ExecSessionManager() as manager:
        manager.open("reuse")
        started = time.perf_counter()
        for i in range(COMMANDS):
            assert manager.run(f"echo {i}", session_id="reuse").text() == f"{i}\n"
        reused = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(COMMANDS):
            assert manager.run(f"echo {i}").text() == f"{i}\n"  # a fresh PTY shell each time
        fresh_pty = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(COMMANDS):
            manager.run(["echo", str(i)], mode="pipe")
        fresh_pipe = time.perf_counter() - started
    print(f"{COMMANDS} x echo, reused PTY session: {reused * 1000:.1f} ms")
    print(
        f"{COMMANDS} x echo, fresh PTY session each: {fresh_pty * 1000:.1f} ms "
        f"({fresh_pty / reused:.1f}x slower)"
    )
    print(
        f"{COMMANDS} x echo, fresh pipe process each: {fresh_pipe * 1000:.1f} ms "
        f"({fresh_pipe / reused:.1f}x slower)"
    )


if __name__ == "__main__":
    main()
