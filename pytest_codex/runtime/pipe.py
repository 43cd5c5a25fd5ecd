"""Pipe mode: a fresh process with stdout and stderr kept apart and stdin closed."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from .capture import ChunkCallback, Redaction, StreamCapture

READ_SIZE = 64 * 1024
KILL_GRACE = 2.0
IDLE_POLL = 0.1  # how often a quiet stream's capture is told it is idle


def kill_group(
    pgid: int,
    grace: float = KILL_GRACE,
    first: int = signal.SIGTERM,
    leader_alive: Callable[[], bool] | None = None,
) -> None:
    """Send ``first`` (TERM) to a process group, wait up to ``grace`` seconds, then KILL
    whatever is left of the group.

    ``leader_alive`` should reap the leader (``Popen.poll``): an unreaped zombie still counts
    as a group member, so probing the group alone would always wait out the grace period.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, first)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if leader_alive is not None:
            if not leader_alive():
                break
        else:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
        time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_pipe(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None,
    timeout: float | None,
    log: IO[bytes] | None,
    on_chunk: ChunkCallback | None,
    cap: int,
    redaction: Redaction | None = None,
) -> tuple[int | None, int | None, bool, dict[str, StreamCapture]]:
    """Run ``argv``; returns (exit code, signal, timed out, captures)."""
    captures = {
        name: StreamCapture(name, log=log, on_chunk=on_chunk, cap=cap, redaction=redaction)
        for name in ("stdout", "stderr")
    }
    try:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills all of it
        )
    except FileNotFoundError as exc:
        captures["stderr"].feed(f"{argv[0]}: {exc.strerror}\n".encode())
        return 127, None, False, captures
    except PermissionError as exc:
        captures["stderr"].feed(f"{argv[0]}: {exc.strerror}\n".encode())
        return 126, None, False, captures
    assert process.stdout is not None and process.stderr is not None
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, captures["stdout"])
        selector.register(process.stderr, selectors.EVENT_READ, captures["stderr"])
        try:
            while selector.get_map():
                wait = IDLE_POLL if deadline is None else max(0.0, deadline - time.monotonic())
                ready = selector.select(min(wait, IDLE_POLL))
                if not ready:
                    for capture in captures.values():
                        capture.idle()
                if not ready and deadline is not None and time.monotonic() >= deadline:
                    timed_out = True
                    kill_group(process.pid, leader_alive=lambda: process.poll() is None)
                    deadline = None  # drain what is left, without a deadline
                    continue
                for key, _ in ready:
                    data = os.read(key.fd, READ_SIZE)
                    if not data:
                        selector.unregister(key.fileobj)
                        continue
                    key.data.feed(data)
        except BaseException:
            kill_group(process.pid, grace=0.2, leader_alive=lambda: process.poll() is None)
            process.wait()
            raise
        finally:
            process.stdout.close()
            process.stderr.close()
    code = process.wait()
    if code < 0:
        return None, -code, timed_out, captures
    return code, None, timed_out, captures
