"""Which processes a command owns, and how they end: process groups, tags and stragglers.

Two rules hold everywhere in the runtime:

- Only groups we spawned are signalled. ``killpg(0, ...)`` signals the *caller's* group
  and ``killpg(1, ...)`` is init's; ``os.tcgetpgrp`` answers 0 once a PTY's shell is gone.
  :func:`may_signal_group` refuses 0, 1, negative ids and our own group, and
  :func:`kill_group` never signals what it refuses.
- No process outlives its command. A command's process group does not catch a child that
  left it (``setsid``, a double fork into a new session): every spawned command carries a
  tag in its environment (:data:`TAG_ENV`), inherited by everything it starts, and
  :func:`end_stragglers` kills what still carries the tag once the command is over and
  reports it. Inside a bubblewrap sandbox the PID namespace does this anyway (its init
  takes every process with it); outside it the tag is the record, and a child that clears
  its environment *and* leaves the session is the one that can escape (docs/sandbox.md).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypedDict

KILL_GRACE = 2.0
TAG_ENV = "CODEX_ORCHESTRATOR_PROCESS_TAG"
_PROC = Path("/proc")


class Detached(TypedDict):
    """A process that outlived its command and was killed: ``pid`` and its command line."""

    pid: int
    command: str


def new_tag() -> str:
    """A fresh tag for one command's processes."""
    return secrets.token_hex(8)


def may_signal_group(pgid: int) -> bool:
    """Whether ``pgid`` is a group we may signal: never 0 (our own group, as ``killpg``
    reads it), 1 (init), a negative id or the group this process is in."""
    return pgid > 1 and pgid != os.getpgrp()


def kill_group(
    pgid: int,
    grace: float = KILL_GRACE,
    first: int = signal.SIGTERM,
    leader_alive: Callable[[], bool] | None = None,
) -> bool:
    """Send ``first`` (TERM) to a process group, wait up to ``grace`` seconds, then KILL
    whatever is left of the group. Returns False, signalling nothing, for a group that
    :func:`may_signal_group` refuses.

    ``leader_alive`` should tell whether the leader has exited *without reaping it*
    (:func:`exited`): an unreaped zombie still counts as a group member, so probing the group
    alone would always wait out the grace period, while a reaped leader's id may be reused
    before the final KILL.
    """
    if not may_signal_group(pgid):
        return False
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
                return True
        time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    return True


def tagged(tag: str) -> list[int]:
    """The live processes whose environment carries ``tag`` (readable ones: ours, or all
    when root). Zombies are left out: they are already dead."""
    needle = f"{TAG_ENV}={tag}".encode()
    found: list[int] = []
    me = os.getpid()
    proc = str(_PROC)
    # Plain os calls, not pathlib: this scans every process, three times per command.
    for name in os.listdir(proc):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"{proc}/{name}/environ", "rb") as handle:
                environ = handle.read()
            if needle not in environ or needle not in environ.split(b"\0"):
                continue
            with open(f"{proc}/{name}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != b"Z":
            found.append(int(name))
    return found


def _command_line(pid: int) -> str:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def end_stragglers(tag: str, grace: float = 0.5) -> list[Detached]:
    """Kill (TERM, then KILL after ``grace``) every live process carrying ``tag``; returns
    what was found, for the record.

    One scan is not enough: a process in the middle of ``fork`` or ``execve`` can show an
    empty environment for a moment, and a dying parent may fork once more. The scan repeats
    until it has come back empty twice in a row.
    """
    found: dict[int, Detached] = {}
    first_term: float | None = None
    empty = 0
    limit = time.monotonic() + grace + 2.0
    while empty < 2 and time.monotonic() < limit:
        pids = tagged(tag)
        if not pids:
            empty += 1
            time.sleep(0.005)
            continue
        empty = 0
        now = time.monotonic()
        first_term = now if first_term is None else first_term
        late = now - first_term >= grace
        for pid in pids:
            if pid not in found:
                found[pid] = Detached(pid=pid, command=_command_line(pid))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL if late else signal.SIGTERM)
        time.sleep(0.01)
    for pid in tagged(tag):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return list(found.values())


def confines_processes(wrapper: Sequence[str]) -> bool:
    """Whether ``wrapper`` (a sandbox's command prefix, ending in ``--``) is a bubblewrap
    command line that gives the command its own PID namespace: then nothing the command
    starts outlives bubblewrap, since the kernel kills the namespace with its init."""
    if not wrapper or os.path.basename(wrapper[0]) != "bwrap" or wrapper[-1] != "--":
        return False
    return "--unshare-pid" in wrapper[1:-1]


def exited(pid: int) -> bool:
    """Whether child ``pid`` has exited, *without* reaping it: while it is a zombie its pid
    and process group id cannot be reused, so signalling the group stays safe."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def reaped(pid: int) -> bool:
    """Whether child ``pid`` is gone for good (reaped, or never ours): its id may since have
    been given to another process, so neither it nor its group may be signalled."""
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return False
