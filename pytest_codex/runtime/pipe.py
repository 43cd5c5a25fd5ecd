"""Pipe mode: a fresh process with stdout and stderr kept apart and stdin closed.

The command runs in its own process group and carries a process tag
(:mod:`~pytest_codex.runtime.processes`). It is over when its leader exits or its timeout
kills it, not when its pipes close: a detached child holding stdout open would otherwise
hold the run (and the timeout) hostage. Then its group is killed while the leader is still
an unreaped zombie (so the group id cannot have been reused), every tagged straggler is
killed and reported, and what is left in the pipes is drained for at most
:data:`DRAIN_SECONDS`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from ..sandbox.seccomp import spawn_args
from .capture import ChunkCallback, Redaction, StreamCapture, captures_for
from .processes import KILL_GRACE, TAG_ENV, Detached, end_stragglers, exited, kill_group, new_tag

__all__ = ["KILL_GRACE", "READ_SIZE", "kill_group", "run_pipe"]

READ_SIZE = 64 * 1024
# The size the pipes are made (Linux's default limit for a user): a fast producer runs up to
# 1 MiB ahead of the reads instead of 64 KiB.
PIPE_SIZE = 1024 * 1024
# After the command is over (exited, or killed at its timeout), output still in flight is
# read for at most this long: a straggler that kept the pipe open is gone by then.
DRAIN_SECONDS = 1.0
_POLL_SECONDS = 0.05
# Reads in a row from a stream that keeps filling them, before the other stream gets a look:
# a fast producer costs one poll per 1 MiB, not one per read.
BURST = 16


def run_pipe(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None,
    timeout: float | None,
    log: IO[bytes] | None,
    on_chunk: ChunkCallback | None,
    cap: int,
    detached: list[Detached] | None = None,
    redaction: Redaction | None = None,
    contained: bool = False,
    stop: threading.Event | None = None,
) -> tuple[int | None, int | None, bool, dict[str, StreamCapture]]:
    """Run ``argv``; returns (exit code, signal, timed out, captures). Processes that had
    left the command's group and outlived it are killed and appended to ``detached``.

    ``contained``: ``argv`` starts a PID namespace that ends with its leader (bubblewrap
    with ``--unshare-pid``: when its namespace's init exits, the kernel kills every process
    in it and waits for them before the leader can exit), so after a leader that exited on
    its own there is nothing left to look for and the straggler scan is skipped.

    ``stop``: once it is set (the runtime is closing), the command is killed as at a
    timeout."""
    captures: dict[str, StreamCapture] = captures_for(
        ("stdout", "stderr"), log=log, on_chunk=on_chunk, cap=cap, redaction=redaction
    )
    tag = new_tag()
    child_env = {**(os.environ if env is None else env), TAG_ENV: tag}
    try:
        # A sandbox prefix's seccomp filter: a file descriptor of its own for this process.
        with spawn_args(argv) as (spawned, fds):
            process = subprocess.Popen(
                spawned,
                cwd=cwd,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, so a timeout kills all of it
                pass_fds=fds,
            )
    except FileNotFoundError as exc:
        if exc.filename is not None and str(exc.filename) == str(cwd):
            captures["stderr"].feed(f"cannot change into {cwd}: {exc.strerror}\n".encode())
            return 126, None, False, captures
        captures["stderr"].feed(f"{argv[0]}: {exc.strerror}\n".encode())
        return 127, None, False, captures
    except (PermissionError, NotADirectoryError) as exc:
        captures["stderr"].feed(f"{argv[0]}: {exc.strerror}\n".encode())
        return 126, None, False, captures
    assert process.stdout is not None and process.stderr is not None
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    over_at: float | None = None  # when the command was over (exited or killed)
    for pipe in (process.stdout, process.stderr):
        os.set_blocking(pipe.fileno(), False)  # our read ends only; the child's stay as they are
        with contextlib.suppress(OSError):  # over the user's pipe budget: the default size
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, captures["stdout"])
        selector.register(process.stderr, selectors.EVENT_READ, captures["stderr"])
        try:
            while selector.get_map():
                now = time.monotonic()
                expired = deadline is not None and now >= deadline
                if over_at is None and (expired or (stop is not None and stop.is_set())):
                    timed_out = True
                    kill_group(process.pid, leader_alive=lambda: not exited(process.pid))
                if over_at is None and (timed_out or exited(process.pid)):
                    _end_tree(process.pid, tag, detached)
                    over_at = time.monotonic()
                if over_at is not None and time.monotonic() - over_at >= DRAIN_SECONDS:
                    break  # still open: held by something that escaped even the KILL
                wait = _POLL_SECONDS
                if over_at is None and deadline is not None:
                    wait = min(wait, max(0.0, deadline - time.monotonic()))
                ready = selector.select(wait)
                if not ready:  # quiet: the redactors may release what they hold
                    for capture in captures.values():
                        capture.idle()
                for key, _ in ready:
                    for _ in range(BURST):
                        try:
                            data = os.read(key.fd, READ_SIZE)
                        except BlockingIOError:
                            break
                        if not data:
                            selector.unregister(key.fileobj)
                            break
                        key.data.feed(data)
                        if len(data) < READ_SIZE:
                            break  # drained for now: back to waiting on both streams
        except BaseException:
            kill_group(process.pid, grace=0.2, leader_alive=lambda: not exited(process.pid))
            _end_tree(process.pid, tag, detached)
            process.wait()
            raise
        finally:
            process.stdout.close()
            process.stderr.close()
    if over_at is None:
        # Both pipes closed, but the leader may still be on its way out (its descriptors close
        # before it becomes waitable), or may have closed them and carried on.
        timed_out = _await_leader(process.pid, deadline) or timed_out
        _end_tree(process.pid, tag, detached, scan=timed_out or not contained)
    code = process.wait()
    if code < 0:
        return None, -code, timed_out, captures
    return code, None, timed_out, captures


def _await_leader(pid: int, deadline: float | None) -> bool:
    """Wait, without reaping, until ``pid`` exits; at ``deadline`` kill its group. Returns
    whether the deadline struck."""
    if deadline is None:
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        return False
    while not exited(pid):
        if time.monotonic() >= deadline:
            kill_group(pid, leader_alive=lambda: not exited(pid))
            return True
        time.sleep(0.005)
    return False


def _end_tree(pid: int, tag: str, detached: list[Detached] | None, *, scan: bool = True) -> None:
    # The leader is an unreaped zombie here (or being killed), so its group id still names
    # the group we made: what is left of it goes at once, then whatever left the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if pid > 1 and pid != os.getpgrp():
            os.killpg(pid, signal.SIGKILL)
    if not scan:
        return
    found = end_stragglers(tag)
    if detached is not None:
        detached.extend(found)
