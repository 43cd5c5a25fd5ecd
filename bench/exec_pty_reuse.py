"""100 sequential `echo` commands in one named PTY shell session vs 100 commands that are each
their own process (on a PTY of their own, or on pipes).

A named session (``exec --session``) keeps one shell and reads each status from what that
shell prints (``exitCodeSource: "shell"``); a command without a session is its own process and
its status is the kernel's (``"kernel"``), at the price of a process (and a straggler scan)
per command: this prints that price.

Run: .venv/bin/python bench/exec_pty_reuse.py
Goal: the reused session at least 3x faster than a process per command.
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
            assert manager.run(f"echo {i}").text() == f"{i}\n"  # its own process on a PTY
        fresh_pty = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(COMMANDS):
            manager.run(["echo", str(i)], mode="pipe")
        fresh_pipe = time.perf_counter() - started
    print(f"{COMMANDS} x echo, one shell session (shell statuses): {reused * 1000:.1f} ms")
    print(
        f"{COMMANDS} x echo, own PTY process each (kernel statuses): {fresh_pty * 1000:.1f} ms "
        f"({fresh_pty / reused:.1f}x slower)"
    )
    print(
        f"{COMMANDS} x echo, own pipe process each (kernel statuses): {fresh_pipe * 1000:.1f} ms "
        f"({fresh_pipe / reused:.1f}x slower)"
    )


if __name__ == "__main__":
    main()
