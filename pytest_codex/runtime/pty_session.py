"""A PTY session: one long-lived shell that runs commands one after another.

The shell is started with echo and prompts off; each command is sent as one line,
``eval '<command>'; printf '\\036END-<token>-%d\\036' $?``, and its output is everything the
PTY yields before that sentinel, so cwd and exported variables persist between commands. The
sentinel uses a fresh random token per command, so output alone cannot fake it; but the
status is what *the shell* prints, and the shell runs the command's code: a command that
redefines ``printf`` (in a sourced script, or an earlier command of the session) decides
what the next sentinels say. Its statuses are therefore recorded with ``exitCodeSource:
"shell"``; a command that is its own process (:mod:`~pytest_codex.runtime.pty_command`,
pipe mode) has its status from ``waitpid`` (``"kernel"``). Linux reports the PTY's end as
``EIO`` on read rather than an empty read; both mean the shell is gone.

Signals go only to process groups of this session: the foreground group is used only when
it is a group of the shell's own session (``os.tcgetpgrp`` answers 0 once the shell is gone,
and ``killpg(0)`` would signal *our* group), and the shell's group is its pid. The shell
carries a process tag, so what left the session (``setsid``, double forks) is killed when
the session closes and listed in :attr:`PtySession.detached`.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import re
import secrets
import select
import shlex
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ..errors import ExecError
from ..redact import redact_env
from ..sandbox.seccomp import spawn_args
from .capture import StreamCapture
from .pipe import READ_SIZE
from .processes import (
    TAG_ENV,
    Detached,
    end_stragglers,
    exited,
    kill_group,
    may_signal_group,
    new_tag,
    reaped,
)

DEFAULT_SHELL: tuple[str, ...] = ("bash", "--noprofile", "--norc", "--noediting")
_SETUP = (
    "stty -echo -onlcr 2>/dev/null; PS1=''; PS2=''; PROMPT_COMMAND=''; unset HISTFILE; "
    "set +o history 2>/dev/null; printf '\\036READY-{token}\\036'\n"
)
_SENTINEL_ROOM = 48  # bytes held back in case they start a sentinel
_RECENT = 1 << 20  # read_until looks at this much recent output at most


class ShellStartError(ExecError):
    """The session's shell never came up: its wrapper (a sandbox that cannot enter the
    working directory, say) or the shell itself exited first. ``output`` is what it said
    (our set-up line left out) and ``status`` its exit status."""

    def __init__(self, session_id: str, seen: bytes, status: int | None) -> None:
        lines = [line for line in seen.split(b"\n") if b"READY-" not in line]
        self.output = b"\n".join(line.rstrip(b"\r") for line in lines).strip()
        self.status = status
        said = self.output.decode(errors="replace").strip() or "nothing"
        super().__init__(f"session {session_id}: the shell did not start ({said})")


def without_new_session(wrapper: Sequence[str]) -> list[str]:
    """``wrapper`` without bwrap's ``--new-session`` (before its ``--``).

    ``--new-session`` keeps a sandboxed command from typing into the caller's terminal
    (``TIOCSTI``); a session's shell never sees the caller's terminal, only the PTY opened
    for it, and it needs that PTY as its controlling terminal for job control.
    """
    argv = list(wrapper)
    end = argv.index("--") if "--" in argv else len(argv)
    return [a for a in argv[:end] if a != "--new-session"] + argv[end:]


class DrivenCommand:
    """A command running on a PTY: drive it (``send``, ``read_until``), then ``wait``.

    The base of :class:`RunningCommand` (a command in a shell session, ended by a sentinel
    the shell prints) and :class:`~pytest_codex.runtime.pty_command.RunningProcess` (a
    command that is its own process, ended by its exit); subclasses pump the PTY.
    """

    #: Where :attr:`status` comes from: ``kernel`` (``waitpid`` of the process we started)
    #: or ``shell`` (what a long-lived shell printed, which code it ran can fake).
    exit_code_source = "kernel"

    def __init__(
        self,
        channel: PtyChannel,
        capture: StreamCapture,
        timeout: float | None,
    ) -> None:
        self.channel = channel
        self.capture = capture
        self._unseen = ""  # output not yet matched by read_until
        # Raw output read_until has not decoded yet: decoding happens only when it looks.
        self._fresh: list[bytes] = []
        self._fresh_size = 0
        self._decoder = codecs.getincrementaldecoder(channel.encoding)(errors="replace")
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.status: int | None = None
        self.timed_out = False
        self.done = False
        self.driven = 0  # callers reading it now (read_until, wait): see ExecSessionManager

    def send(self, text: str) -> None:
        """Type ``text`` into the program (add ``\\n`` to press enter)."""
        self.channel.write(text.encode(self.channel.encoding))

    def read_until(self, pattern: str, timeout: float = 10.0) -> str:
        """Read output until ``pattern`` (a regex) appears; returns the output up to its end."""
        regex = re.compile(pattern)
        limit = time.monotonic() + timeout
        with self._driving():
            return self._read_until(regex, pattern, limit, timeout)

    def _read_until(
        self, regex: re.Pattern[str], pattern: str, limit: float, timeout: float
    ) -> str:
        while True:
            self._decode_fresh()
            match = regex.search(self._unseen)
            if match:
                seen, self._unseen = self._unseen[: match.end()], self._unseen[match.end() :]
                return seen
            if self.done:
                raise ExecError(f"command ended before its output matched {pattern!r}")
            if time.monotonic() >= limit:
                raise ExecError(f"timed out after {timeout}s waiting for output {pattern!r}")
            self._pump(min(0.1, max(0.0, limit - time.monotonic())))

    @contextlib.contextmanager
    def _driving(self) -> Iterator[None]:
        self.driven += 1
        try:
            yield
        finally:
            self.driven -= 1

    def wait(self) -> None:
        """Read until the command ends (or its timeout kills it)."""
        with self._driving():
            self._wait()

    def _wait(self) -> None:
        while not self.done:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self._expire()
            wait = 0.25 if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            self._pump(min(wait, 0.25))

    def _deliver(self, data: bytes) -> None:
        if data:
            self.capture.feed(data)
            self._fresh.append(data)
            self._fresh_size += len(data)
            if self._fresh_size > _RECENT:  # read_until looks at recent output only
                self._unseen = ""
                self._decoder.reset()
                while self._fresh_size > _RECENT // 2 and len(self._fresh) > 1:
                    self._fresh_size -= len(self._fresh.pop(0))

    def _decode_fresh(self) -> None:
        if self._fresh:
            self._unseen += self._decoder.decode(b"".join(self._fresh))
            self._fresh.clear()
            self._fresh_size = 0
            if len(self._unseen) > _RECENT:
                self._unseen = self._unseen[-(_RECENT // 2) :]

    def _expire(self) -> None:
        raise NotImplementedError

    def _pump(self, timeout: float) -> None:
        raise NotImplementedError


class RunningCommand(DrivenCommand):
    """A command running in a PTY session; its status is what the shell prints after it."""

    exit_code_source = "shell"

    def __init__(
        self,
        session: PtySession,
        token: str,
        capture: StreamCapture,
        timeout: float | None,
    ) -> None:
        super().__init__(session, capture, timeout)
        self.session = session
        self._sentinel = re.compile(rb"\x1eEND-" + token.encode() + rb"-(\d+)\x1e")
        self._pending = bytearray()

    def _expire(self) -> None:
        # Kill the foreground job (job control puts each command in its own group); if the
        # shell itself is in the foreground (a builtin loop), the session has to go.
        self.timed_out = True
        self.deadline = time.monotonic() + 5.0
        session = self.session
        foreground = session.foreground_group()
        if foreground is not None and foreground != session.pid:
            kill_group(foreground, grace=1.0)
        else:
            session.kill()

    def _pump(self, timeout: float) -> None:
        data = self.session.read(timeout)
        if data is None:
            self.capture.idle()  # quiet: the redactor may release what it holds
            return
        if data == b"":  # the shell is gone (exit, kill): the command ended with it
            self._deliver(bytes(self._pending))
            self._pending.clear()
            self.status = self.session.exit_status()
            self.done = True
            return
        if not self._pending and b"\x1e" not in data:
            # Nothing held and nothing that could begin a sentinel: all of it is output.
            self._deliver(data)
            return
        self._pending += data
        match = self._sentinel.search(self._pending)
        if match:
            self._deliver(bytes(self._pending[: match.start()]))
            self.status = int(match.group(1))
            del self._pending[:]
            self.done = True
            return
        keep = min(len(self._pending), _SENTINEL_ROOM)
        cut = len(self._pending) - keep
        # Only hold back a tail that could begin a sentinel (starts at a \x1e byte).
        marker = self._pending.find(b"\x1e", cut)
        cut = len(self._pending) if marker == -1 else marker
        if cut:
            self._deliver(bytes(self._pending[:cut]))
            del self._pending[:cut]


class PtyChannel:
    """The master side of a PTY: non-blocking reads of up to 64 KiB, blocking writes.

    Shared by :class:`PtySession` (a shell kept between commands) and
    :class:`~pytest_codex.runtime.pty_command.PtyCommand` (one command, its own process).
    """

    fd: int
    encoding: str = "utf-8"
    _closed: bool = False

    def write(self, data: bytes) -> None:
        """Write raw bytes to the PTY."""
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except BlockingIOError:  # the program is not reading its input yet
                select.select([], [self.fd], [], 1.0)
                continue
            view = view[written:]

    def read(self, timeout: float) -> bytes | None:
        """Up to 64 KiB; None when nothing came within ``timeout``, b"" at the end."""
        if self._closed:
            return b""
        data = self._read_now(READ_SIZE)
        if data is None:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return None
            data = self._read_now(READ_SIZE)
            if data is None:
                return None
        # A PTY hands out a few KiB per read; take what is already there too, so a fast
        # producer costs one event per 64 KiB rather than one per kernel buffer.
        if data:
            parts = [data]
            size = len(data)
            while size < READ_SIZE:
                try:
                    more = os.read(self.fd, READ_SIZE - size)
                except OSError:
                    break  # nothing more yet (EAGAIN); EIO (end) is reported by the next read
                if not more:
                    break
                parts.append(more)
                size += len(more)
            data = b"".join(parts)
        return data

    def _read_now(self, size: int) -> bytes | None:
        """What the PTY holds now (non-blocking): None when nothing, b"" at the end."""
        try:
            return os.read(self.fd, size)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno == errno.EIO:  # Linux: the other side of the PTY is gone
                return b""
            raise


class PtySession(PtyChannel):
    """One shell on a PTY, kept alive between commands."""

    def __init__(
        self,
        session_id: str,
        *,
        cwd: Path,
        env: Mapping[str, str],
        wrapper: Sequence[str] = (),
        rows: int = 24,
        cols: int = 80,
        encoding: str = "utf-8",
        shell: Sequence[str] = DEFAULT_SHELL,
    ) -> None:
        self.id = session_id
        self.cwd = cwd
        # The shell's controlling terminal must be our PTY (job control, tcgetpgrp).
        self.wrapper = tuple(without_new_session(wrapper))
        self.tag = new_tag()
        self.detached: list[Detached] = []
        self.rows, self.cols, self.encoding = rows, cols, encoding
        self.env_snapshot = redact_env(env)
        self.created = time.monotonic()
        self.last_used = self.created
        self.commands = 0
        import ptyprocess  # here, not at import: pipe-mode commands never need it

        from ..paths import find_repo_root
        from ..programs import ProgramNotFoundError, resolve

        try:
            # The shell by absolute path, never one planted in the workspace's .venv/bin.
            program = resolve(shell[0], workspace=find_repo_root(Path(cwd))) if shell else ""
        except ProgramNotFoundError as exc:
            raise ExecError(f"cannot start a shell for session {session_id}: {exc}") from exc
        try:
            # A sandbox prefix's seccomp filter: a file descriptor of its own for this shell.
            with spawn_args([*self.wrapper, program, *shell[1:]]) as (spawned, fds):
                self._proc = ptyprocess.PtyProcess.spawn(
                    spawned,
                    cwd=str(cwd),
                    env={**env, TAG_ENV: self.tag},
                    dimensions=(rows, cols),
                    pass_fds=fds,
                )
        except (OSError, ptyprocess.PtyProcessError) as exc:
            raise ExecError(f"cannot start a shell for session {session_id}: {exc}") from exc
        # ptyprocess sleeps after close/terminate to let the child go; we reap it ourselves.
        self._proc.delayafterclose = 0.0
        self._proc.delayafterterminate = 0.05
        self.pid: int = self._proc.pid
        self.fd: int = self._proc.fd
        # Non-blocking reads: a read that finds nothing says so (EAGAIN) without a select
        # call per read, which would double the system calls of a fast producer.
        os.set_blocking(self.fd, False)
        self.running: RunningCommand | None = None
        self._closed = False
        token = secrets.token_hex(6)
        self.write(_SETUP.format(token=token).encode())
        ready = re.compile(rb"\x1eREADY-" + token.encode() + rb"\x1e")
        seen = bytearray()
        limit = time.monotonic() + 15.0
        while not ready.search(seen):
            data = self.read(max(0.0, limit - time.monotonic()))
            if data == b"" or time.monotonic() >= limit:
                self.kill()
                raise ShellStartError(session_id, bytes(seen), self.exit_status())
            if data:
                seen += data

    @property
    def alive(self) -> bool:
        """Whether the shell is still running."""
        return not self._closed and bool(self._proc.isalive())

    def start(
        self, command: str, *, capture: StreamCapture, timeout: float | None
    ) -> RunningCommand:
        """Send ``command`` to the shell and return a handle to drive it."""
        if not self.alive:
            raise ExecError(f"session {self.id} has exited; open a new one")
        if self.running is not None and not self.running.done:
            raise ExecError(f"session {self.id} is still running a command")
        token = secrets.token_hex(8)
        line = f"eval {shlex.quote(command)}; printf '\\036END-{token}-%d\\036' $?\n"
        running = RunningCommand(self, token, capture, timeout)
        self.running = running
        self.commands += 1
        self.last_used = time.monotonic()
        self.write(line.encode(self.encoding))
        return running

    def exit_status(self) -> int | None:
        """The shell's exit status once it is gone (128+N when killed by signal N)."""
        import ptyprocess

        with contextlib.suppress(ptyprocess.PtyProcessError, OSError):
            self._proc.wait()
        if self._proc.signalstatus is not None:
            return 128 + int(self._proc.signalstatus)
        status = self._proc.exitstatus
        return None if status is None else int(status)

    def foreground_group(self) -> int | None:
        """The PTY's foreground process group when it is one of this session's groups
        (never 0, 1 or our own group), else None."""
        if self._closed:
            return None
        try:
            group = os.tcgetpgrp(self.fd)
            # Only a group of the session ptyprocess made for the shell (sid == shell pid).
            if not may_signal_group(group) or os.getsid(group) != self.pid:
                return None
        except OSError:
            return None
        return group

    def kill(self) -> None:
        """End the foreground job and the shell (HUP, then KILL), then whatever left the
        session (recorded in :attr:`detached`)."""
        foreground = self.foreground_group()
        if foreground is not None and foreground != self.pid:
            # HUP, as a closed terminal would: it also ends an idle interactive shell
            # (which ignores TERM) when a wrapper such as bwrap sits between us and it.
            kill_group(foreground, grace=0.5, first=signal.SIGHUP)
        # Only while the shell is unreaped (alive or a zombie) does its pid still name our
        # group; once reaped, the id may already be someone else's.
        if not reaped(self.pid):
            # An interactive shell ignores TERM but exits on a hang-up, as on a closed terminal.
            kill_group(self.pid, grace=0.5, first=signal.SIGHUP, leader_alive=self._leader_alive)
        self.detached += end_stragglers(self.tag)

    def _leader_alive(self) -> bool:
        return not exited(self.pid)  # without reaping: the group id stays ours

    def close(self) -> None:
        """Kill what is left, close the PTY, reap the shell. Idempotent."""
        if self._closed:
            return
        if self._leader_alive() and (self.running is None or self.running.done):
            # An idle shell leaves cleanly when asked; no signals needed.
            with contextlib.suppress(OSError):
                self.write(b"exit 0\n")
            deadline = time.monotonic() + 0.5
            while self._leader_alive() and time.monotonic() < deadline:
                time.sleep(0.002)
        if self._leader_alive():
            self.kill()
        else:
            # The shell left; what it started in the background must not outlive it.
            if not reaped(self.pid) and may_signal_group(self.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
            self.detached += end_stragglers(self.tag)
        import ptyprocess

        with contextlib.suppress(OSError, ptyprocess.PtyProcessError):
            self._proc.close(force=True)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, os.WNOHANG)
        self._closed = True

    def resize(self, rows: int, cols: int) -> None:
        """Change the TTY size."""
        self._proc.setwinsize(rows, cols)
        self.rows, self.cols = rows, cols


def signal_from_status(status: int | None) -> int | None:
    """A shell status above 128 means death by signal ``status - 128`` (the shell's rule)."""
    if status is not None and 128 < status < 128 + signal.NSIG:
        return status - 128
    return None
