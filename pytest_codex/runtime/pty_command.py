"""One command as its own process on a fresh PTY, its exit status from the kernel.

This is how a command runs unless it is sent to a named shell session: the process the
runtime starts is the command itself (``bash -c TEXT`` under the sandbox's wrapper, started by
``setsid --ctty``, which makes the PTY its controlling terminal and then execs it in the same
process), on a PTY opened for it alone, so its status is what ``waitpid`` reports for that
process. Nothing the
command prints, and no function it defines, can change it; Codex's unified exec runs
commands the same way.

The command is over when its process exits, not when the PTY closes: a background child
holding the terminal open would otherwise hold the command (and its timeout) hostage. Then
what is still in the PTY is drained for a moment, the process group is killed while the
leader is an unreaped zombie (so its id cannot have been reused), every tagged straggler is
killed and listed in :attr:`PtyCommand.detached`, and the leader is reaped for its status.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shutil
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..sandbox.seccomp import spawn_args
from .capture import StreamCapture
from .processes import (
    TAG_ENV,
    Detached,
    confines_processes,
    end_stragglers,
    exited,
    kill_group,
    new_tag,
)
from .pty_session import DrivenCommand, PtyChannel, without_new_session

# After the process exited, output still in the PTY is read until it has been quiet this
# long (or DRAIN_SECONDS passed): a straggler that kept the terminal is gone by then.
_QUIET_SECONDS = 0.02
DRAIN_SECONDS = 1.0


# util-linux's setsid: a new session whose controlling terminal is stdin (our PTY), then
# exec. With it the command starts through subprocess's C fork/exec, about 20 times faster
# than a fork that runs Python in a large process; without it, the same in a preexec_fn.
SETSID = shutil.which("setsid")


def _new_terminal(rows: int, cols: int) -> tuple[int, int]:
    """A PTY (master, slave) that echoes nothing and writes ``\\n`` as is (no ``\\r\\n``),
    as shell sessions do, so logs and captured text hold the bytes the program wrote."""
    master, slave = os.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.ONLCR
    attrs[3] &= ~(termios.ECHO | termios.ECHONL)
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return master, slave


def _take_terminal() -> None:  # pragma: no cover - runs in the child, without setsid(1)
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyCommand(PtyChannel):
    """A process started on a PTY of its own (it is the PTY's session leader)."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        wrapper: Sequence[str] = (),
        rows: int = 24,
        cols: int = 80,
        encoding: str = "utf-8",
    ) -> None:
        # The command's controlling terminal must be its PTY (job control, /dev/tty); the
        # PTY is fresh and ours, so bwrap's --new-session guard has nothing to protect.
        wrapper = without_new_session(wrapper)
        self.argv = [*wrapper, *argv]
        self.cwd = cwd
        self.encoding = encoding
        self.tag = new_tag()
        self.contained = confines_processes(wrapper)
        self.detached: list[Detached] = []
        self._status: tuple[int | None, int | None] | None = None
        self._ended = False
        self._lock = threading.RLock()  # end, reap and close may come from two threads
        master, slave = _new_terminal(rows, cols)
        try:
            # A sandbox prefix carries the seccomp filter as a placeholder: a fresh memfd.
            with spawn_args(self.argv) as (spawned, fds):
                self._popen = subprocess.Popen(
                    [SETSID, "--ctty", *spawned] if SETSID else spawned,
                    cwd=cwd,
                    env={**env, TAG_ENV: self.tag},
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    close_fds=True,
                    pass_fds=fds,
                    preexec_fn=None if SETSID else _take_terminal,
                )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)  # the child has it; EIO on the master once the command's is closed
        self.pid: int = self._popen.pid
        self.fd: int = master
        os.set_blocking(self.fd, False)  # see PtyChannel.read
        # Readable once the process has exited: a wait with a timeout, without reaping.
        self._pidfd: int | None = None
        with contextlib.suppress(OSError, AttributeError):
            self._pidfd = os.pidfd_open(self.pid)

    def wait_exit(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for the process to exit (it is not reaped)."""
        if self.exited():
            return True
        if self._pidfd is None:
            time.sleep(min(timeout, 0.005))
        else:
            select.select([self._pidfd], [], [], timeout)
        return self.exited()

    def exited(self) -> bool:
        """Whether the process has exited (without reaping it: its group id stays ours)."""
        return self._status is not None or exited(self.pid)

    def end(self, *, scan: bool = True) -> None:
        """Once the leader has exited (or is being killed): kill what is left of its group,
        then every tagged process that left it (unless ``scan`` is False). Once only."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            self._end(scan)

    def _end(self, scan: bool) -> None:
        if self._status is None and self.pid > 1 and self.pid != os.getpgrp():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        if scan:
            self.detached += end_stragglers(self.tag)

    def reap(self) -> tuple[int | None, int | None]:
        """Wait for the process and return ``(exit code, signal)`` from ``waitpid``."""
        with self._lock:
            return self._reap()

    def _reap(self) -> tuple[int | None, int | None]:
        if self._status is None:
            try:
                _, raw = os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped elsewhere: nothing we can say
                self._status = (None, None)
                self._popen.returncode = -1
            else:
                code = os.waitstatus_to_exitcode(raw)
                self._status = (None, -code) if code < 0 else (code, None)
                # Popen must never wait for (or reap) the process again: it is reaped.
                self._popen.returncode = code
        return self._status

    def kill(self, grace: float = 1.0) -> None:
        """HUP (as a closed terminal would), then KILL, the process group."""
        if self._status is None:
            kill_group(self.pid, grace=grace, first=signal.SIGHUP, leader_alive=self._alive)

    def _alive(self) -> bool:
        return not exited(self.pid)

    def close(self) -> None:
        """Kill what is left, reap the process, close the PTY. Idempotent."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._closed:
            return
        if self._alive():
            self.kill(grace=0.5)
        self.end()
        self.reap()
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        self._closed = True


class RunningProcess(DrivenCommand):
    """A :class:`PtyCommand` being driven: output into its capture, status from the kernel."""

    exit_code_source = "kernel"

    def __init__(self, process: PtyCommand, capture: StreamCapture, timeout: float | None) -> None:
        super().__init__(process, capture, timeout)
        self.process = process
        self.signal: int | None = None
        self._eof = False

    def _expire(self) -> None:
        self.timed_out = True
        self.deadline = None
        self.process.kill()

    def _pump(self, timeout: float) -> None:
        process = self.process
        if self._eof:  # the terminal closed before the process exited: wait for the exit
            if process.wait_exit(timeout):
                self._finish()
            return
        data = process.read(timeout)
        if data:
            self._deliver(data)
        elif data == b"":
            self._eof = True
        else:
            self.capture.idle()  # quiet: the redactor may release what it holds
        if process.exited():
            self._drain()
            self._finish()

    def _drain(self) -> None:
        limit = time.monotonic() + DRAIN_SECONDS
        while not self._eof and time.monotonic() < limit:
            data = self.process.read(_QUIET_SECONDS)
            if data is None:
                break  # quiet: what the process wrote has been read
            if data == b"":
                self._eof = True
            else:
                self._deliver(data)

    def _finish(self) -> None:
        process = self.process
        # A PID namespace (bwrap --unshare-pid) ended with its leader: nothing to look for,
        # unless a timeout killed it from outside.
        process.end(scan=self.timed_out or not process.contained)
        code, sig = process.reap()
        self.status = None if code is None and sig is None else code
        self.signal = sig
        self.done = True


def shell_argv(shell: Sequence[str], text: str) -> list[str]:
    """The argv that runs ``text`` as one process of ``shell`` (``bash ... -c TEXT``)."""
    words = [w for w in shell if w not in ("--noediting", "-i")]
    return [*words, "-c", text]
