"""ExecSessionManager: the one runtime that owns command processes and streams their output.

A command is its own process, its exit status from ``waitpid`` (``exitCodeSource:
"kernel"``): on a PTY of its own (:mod:`.pty_command`, the default) or in pipe mode (stdout
and stderr apart, stdin closed). A command sent to a named session runs in that session's
long-lived shell (cwd and exported variables persist) and its status is what the shell
prints (``"shell"``). ``close_all`` kills every command still running. Every command emits
``exec:begin``, ``exec:chunk`` (at most 8 KiB each) and ``exec:end`` when given an emitter
(only the chunks with ``bracket=False``: a caller that records the command itself, as
:func:`pytest_codex.execution.execute_command` does around all its attempts, emits the pair),
keeps at most ``memory_cap`` bytes per stream in memory (head and tail) and writes every byte
to its log. Output is redacted at the source (log, memory, chunks), by one redactor per
command built from the environment, the command's env and ``secrets``; ``raw_logs`` keeps
the logs byte-exact, ``redact=False`` turns redaction off (benchmarks). Past the first
:data:`INLINE_LIMIT` bytes of a stream that has a log, chunks reference the log
(``logOffset``, ``bytes``) instead of repeating it: they carry their text only when the
emitter wants it (``wants_chunk_data``: a live stream or terminal), and when it does not,
consecutive reads become one reference of up to :data:`REFERENCE_SPAN` bytes. Live sessions
are bounded (least recently used evicted, exited ones first) and idle ones are closed.
"""

from __future__ import annotations

import builtins
import os
import secrets
import shlex
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ..atomic import open_nofollow
from ..emitter import Emitter
from ..errors import ExecError
from ..redact import Redactor
from ..timeutil import now_iso
from .capture import DEFAULT_MEMORY_CAP, Redaction, StreamCapture, split_utf8
from .pipe import run_pipe
from .processes import Detached, confines_processes
from .pty_command import PtyCommand, RunningProcess, shell_argv
from .pty_session import (
    DEFAULT_SHELL,
    DrivenCommand,
    PtySession,
    RunningCommand,
    signal_from_status,
)
from .result import CommandResult

INLINE_LIMIT = 64 * 1024  # bytes of each stream whose chunks always carry their text
REFERENCE_SPAN = 1 << 20  # at most this many log bytes in one text-less reference
REFERENCE_DELAY = 0.25  # seconds a reference may grow before it is emitted

# (stream, redacted text) as each piece of output is read: a caller's own view of the
# output besides the events (the MCP server hands it to the model).
OutputObserver = Callable[[str, str], None]


class CommandHandle:
    """A command started in a PTY session: drive it, then take its :class:`CommandResult`."""

    def __init__(self, finish: Any, running: DrivenCommand | None) -> None:
        self._finish = finish
        self.running = running

    def _live(self) -> DrivenCommand:
        if self.running is None:
            raise ExecError("the command never started (its shell did not come up)")
        return self.running

    def send(self, text: str) -> None:
        """Type into the program (``\\n`` presses enter)."""
        self._live().send(text)

    def read_until(self, pattern: str, timeout: float = 10.0) -> str:
        """Output up to the first match of ``pattern``."""
        return self._live().read_until(pattern, timeout)

    def result(self) -> CommandResult:
        """Wait for the command to end and return its result."""
        return self._finish()  # type: ignore[no-any-return]


class ExecSessionManager:
    """Sessions keyed by id, and the one place commands are run."""

    def __init__(
        self,
        *,
        max_sessions: int = 8,
        idle_timeout: float = 600.0,
        memory_cap: int = DEFAULT_MEMORY_CAP,
        rows: int = 24,
        cols: int = 80,
        encoding: str = "utf-8",
        shell: Sequence[str] = DEFAULT_SHELL,
        raw_logs: bool = False,
        secrets: Sequence[str] = (),
        redact: bool = True,
    ) -> None:
        self.max_sessions = max_sessions
        self.raw_logs = raw_logs
        self.secrets = tuple(secrets)
        self.redact = redact
        self.idle_timeout = idle_timeout
        self.memory_cap = memory_cap
        self.rows, self.cols, self.encoding = rows, cols, encoding
        self.shell = tuple(shell)
        self._sessions: OrderedDict[str, PtySession] = OrderedDict()
        # Commands running as their own processes, killed by close_all.
        self._processes: dict[int, tuple[PtyCommand, RunningProcess]] = {}
        self._stop = threading.Event()  # set by close_all: pipe commands end too
        self._lock = threading.RLock()

    # -- sessions -------------------------------------------------------------------------
    def open(
        self,
        session_id: str | None = None,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        wrapper: Sequence[str] = (),
        rows: int | None = None,
        cols: int | None = None,
    ) -> PtySession:
        """Start a PTY session (evicting the least recently used one when full)."""
        with self._lock:
            self.reap_idle()
            session_id = session_id or f"s-{secrets.token_hex(4)}"
            if session_id in self._sessions:
                raise ExecError(f"session {session_id} is already open; close it first")
            while len(self._sessions) >= self.max_sessions:
                self._evict()
            session = PtySession(
                session_id,
                cwd=(cwd or Path.cwd()),
                env=dict(os.environ if env is None else env),
                wrapper=wrapper,
                rows=rows or self.rows,
                cols=cols or self.cols,
                encoding=self.encoding,
                shell=self.shell,
            )
            self._sessions[session_id] = session
            return session

    def _evict(self) -> None:
        # Exited sessions go first; then the least recently used live one.
        dead = [sid for sid, s in self._sessions.items() if not s.alive]
        victim = dead[0] if dead else next(iter(self._sessions))
        self.close(victim)

    def get(self, session_id: str) -> PtySession:
        """An open session, marked as just used."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                raise ExecError(f"no session {session_id!r}; open it first")
            self._sessions.move_to_end(session_id)
            return session

    def list(self) -> builtins.list[dict[str, Any]]:
        """One line of facts per session, least recently used first."""
        now = time.monotonic()
        with self._lock:
            return [
                {
                    "id": s.id,
                    "pid": s.pid,
                    "alive": s.alive,
                    "cwd": str(s.cwd),
                    "commands": s.commands,
                    "idleSeconds": round(now - s.last_used, 3),
                    "rows": s.rows,
                    "cols": s.cols,
                    "encoding": s.encoding,
                    "env": dict(s.env_snapshot),
                }
                for s in self._sessions.values()
            ]

    def kill(self, session_id: str) -> None:
        """Kill a session's processes (it stays listed, as exited, until closed)."""
        self.get(session_id).kill()

    def close(self, session_id: str) -> None:
        """Kill, reap and forget a session."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        """Close every session and kill every command still running."""
        with self._lock:
            ids = list(self._sessions)
            processes = list(self._processes.values())
        self._stop.set()
        for process, running in processes:
            process.kill(grace=0.5)
            if not running.driven:
                # Nobody reads it (a handle whose result() was never asked for): nothing
                # else will reap it and close its terminal. A reader finishes it itself.
                process.close()
        for session_id in ids:
            self.close(session_id)
        self._stop = threading.Event()

    def reap_idle(self) -> builtins.list[str]:
        """Close sessions idle longer than ``idle_timeout``; returns their ids."""
        now = time.monotonic()
        with self._lock:
            idle = [
                sid
                for sid, s in self._sessions.items()
                if now - s.last_used > self.idle_timeout and (s.running is None or s.running.done)
            ]
        for session_id in idle:
            self.close(session_id)
        return idle

    def __enter__(self) -> ExecSessionManager:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close_all()

    # -- commands -------------------------------------------------------------------------
    def redaction(self, env: Mapping[str, str] | None = None) -> Redaction | None:
        """How one command's output is redacted (None: not at all)."""
        if not self.redact:
            return None
        return Redaction(Redactor.for_env(env, extra=self.secrets), raw_log=self.raw_logs)

    def run(
        self,
        command: Sequence[str] | str,
        *,
        session_id: str | None = None,
        mode: str = "pty",
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        log_path: Path | None = None,
        emitter: Emitter | None = None,
        correlation_id: str | None = None,
        sandbox_state: str = "unsandboxed",
        wrapper: Sequence[str] = (),
        bracket: bool = True,
        observer: OutputObserver | None = None,
    ) -> CommandResult:
        """Run one command to completion (``mode`` ``pty`` or ``pipe``)."""
        if mode == "pipe":
            return self._run_pipe(
                command,
                cwd,
                env,
                timeout,
                log_path,
                emitter,
                correlation_id,
                sandbox_state,
                wrapper,
                bracket,
                observer,
            )
        return self.start(
            command,
            session_id=session_id,
            cwd=cwd,
            env=env,
            timeout=timeout,
            log_path=log_path,
            emitter=emitter,
            correlation_id=correlation_id,
            sandbox_state=sandbox_state,
            wrapper=wrapper,
            bracket=bracket,
            observer=observer,
        ).result()

    def start(
        self,
        command: Sequence[str] | str,
        *,
        session_id: str | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        log_path: Path | None = None,
        emitter: Emitter | None = None,
        correlation_id: str | None = None,
        sandbox_state: str = "unsandboxed",
        wrapper: Sequence[str] = (),
        bracket: bool = True,
        observer: OutputObserver | None = None,
    ) -> CommandHandle:
        """Start a command on a PTY: its own process (``bash -c``, status from the kernel)
        without ``session_id``, else in that shell session (status as the shell reports it).

        ``observer`` sees each piece of (redacted) output as it is read, besides the events.
        """
        text = command if isinstance(command, str) else shlex.join(command)
        argv = [text] if isinstance(command, str) else list(command)
        if session_id is None:
            return self._start_process(
                text,
                argv,
                cwd=cwd,
                env=env,
                timeout=timeout,
                log_path=log_path,
                emitter=emitter,
                correlation_id=correlation_id,
                sandbox_state=sandbox_state,
                wrapper=wrapper,
                bracket=bracket,
                observer=observer,
            )
        with self._lock:
            existing = self._sessions.get(str(session_id))
            if existing is not None and not existing.alive:
                self.close(existing.id)
                existing = None
            session = existing or self.open(session_id, cwd=cwd, env=env, wrapper=wrapper)
            self._sessions.move_to_end(session.id)
        begun = _Begun(
            self,
            emitter,
            correlation_id,
            argv,
            session,
            "pty",
            log_path,
            sandbox_state,
            bracket,
            observer=observer,
            exit_code_source=RunningCommand.exit_code_source,
        )
        capture = StreamCapture(
            "pty",
            log=begun.log,
            on_chunk=begun.on_chunk,
            cap=self.memory_cap,
            redaction=self.redaction(env),
        )
        try:
            running = session.start(text, capture=capture, timeout=timeout)
        except BaseException:
            begun.close_log()
            raise

        def finish() -> CommandResult:
            try:
                running.wait()
            finally:
                session.last_used = time.monotonic()
            status = running.status
            return begun.end(
                exit_code=status,
                signal=signal_from_status(status),
                timed_out=running.timed_out,
                captures={"pty": capture},
            )

        return CommandHandle(finish, running)

    def _start_process(
        self,
        text: str,
        argv: Sequence[str],
        *,
        cwd: Path | None,
        env: Mapping[str, str] | None,
        timeout: float | None,
        log_path: Path | None,
        emitter: Emitter | None,
        correlation_id: str | None,
        sandbox_state: str,
        wrapper: Sequence[str],
        bracket: bool,
        observer: OutputObserver | None,
    ) -> CommandHandle:
        begun = _Begun(
            self,
            emitter,
            correlation_id,
            argv,
            None,
            "pty",
            log_path,
            sandbox_state,
            bracket,
            cwd=cwd,
            observer=observer,
            exit_code_source=RunningProcess.exit_code_source,
        )
        capture = StreamCapture(
            "pty",
            log=begun.log,
            on_chunk=begun.on_chunk,
            cap=self.memory_cap,
            redaction=self.redaction(env),
        )
        where = cwd or Path.cwd()
        try:
            process = PtyCommand(
                shell_argv(self.shell, text),
                cwd=where,
                env=dict(os.environ if env is None else env),
                wrapper=wrapper,
                rows=self.rows,
                cols=self.cols,
                encoding=self.encoding,
            )
        except OSError as exc:
            # As in pipe mode: the shell's statuses for what could not be started.
            if isinstance(exc, FileNotFoundError) and str(exc.filename) == str(where):
                code, said = 126, f"cannot change into {where}: {exc.strerror}"
            else:
                code = 127 if isinstance(exc, FileNotFoundError) else 126
                said = f"{exc.filename or 'the command'}: {exc.strerror}"
            capture.feed(f"{said}\n".encode())
            ended = begun.end(
                exit_code=code, signal=None, timed_out=False, captures={"pty": capture}
            )
            return CommandHandle(lambda: ended, None)
        except BaseException:
            begun.close_log()
            raise
        running = RunningProcess(process, capture, timeout)
        with self._lock:
            self._processes[id(running)] = (process, running)

        def finish() -> CommandResult:
            try:
                running.wait()
            finally:
                process.close()
                with self._lock:
                    self._processes.pop(id(running), None)
            return begun.end(
                exit_code=running.status,
                signal=running.signal,
                timed_out=running.timed_out,
                captures={"pty": capture},
                detached=process.detached,
            )

        return CommandHandle(finish, running)

    def _run_pipe(
        self,
        command: Sequence[str] | str,
        cwd: Path | None,
        env: Mapping[str, str] | None,
        timeout: float | None,
        log_path: Path | None,
        emitter: Emitter | None,
        correlation_id: str | None,
        sandbox_state: str,
        wrapper: Sequence[str],
        bracket: bool = True,
        observer: OutputObserver | None = None,
    ) -> CommandResult:
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        begun = _Begun(
            self,
            emitter,
            correlation_id,
            argv,
            None,
            "pipe",
            log_path,
            sandbox_state,
            bracket,
            cwd=cwd,
            observer=observer,
        )
        detached: list[Detached] = []
        try:
            code, sig, timed_out, captures = run_pipe(
                [*wrapper, *argv],
                cwd=cwd or Path.cwd(),
                env=env,
                timeout=timeout,
                log=begun.log,
                on_chunk=begun.on_chunk,
                cap=self.memory_cap,
                detached=detached,
                redaction=self.redaction(env),
                contained=confines_processes(wrapper),
                stop=self._stop,
            )
        except BaseException:
            begun.close_log()
            raise
        return begun.end(
            exit_code=code, signal=sig, timed_out=timed_out, captures=captures, detached=detached
        )


def _size(text: str) -> int:
    """How many UTF-8 bytes ``text`` takes."""
    return len(text) if text.isascii() else len(text.encode())


class _Begun:
    """Book-keeping of one command between exec:begin and exec:end."""

    def __init__(
        self,
        manager: ExecSessionManager,
        emitter: Emitter | None,
        correlation_id: str | None,
        argv: Sequence[str],
        session: PtySession | None,
        mode: str,
        log_path: Path | None,
        sandbox_state: str,
        bracket: bool = True,
        cwd: Path | None = None,
        observer: OutputObserver | None = None,
        exit_code_source: str = "kernel",
    ) -> None:
        self.emitter = emitter
        self.observer = observer
        self.exit_code_source = exit_code_source
        self.bracket = bracket
        self.correlation_id = correlation_id or secrets.token_hex(6)
        self.argv = list(argv)
        self.session_id = None if session is None else session.id
        self.cwd = str(cwd or (session.cwd if session is not None else Path.cwd()))
        self.mode = mode
        self.log_path = log_path
        self.sandbox_state = sandbox_state
        self.seq = 0
        # Whether text past the inline limit is wanted (a live stream); unknown: yes.
        self.wants_data = bool(getattr(emitter, "wants_chunk_data", True))
        self._seen: dict[str, int] = {}
        self._offset: dict[str, int] = {}  # log offset of each stream's next referenced byte
        self._pending: list[Any] | None = None  # [stream, logOffset, bytes, since]
        self.log: IO[bytes] | None = None
        if log_path is not None:
            # Never through a symlink a command may have planted under the run directory.
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            # Closed in end()/close_log().
            self.log = os.fdopen(open_nofollow(log_path, flags), "wb")
        self.started_at = now_iso()
        self.t0 = time.monotonic()
        if emitter is not None and bracket:
            emitter.emit(
                "exec:begin",
                {
                    "correlationId": self.correlation_id,
                    "argv": self.argv,
                    "cwd": self.cwd,
                    "sessionId": self.session_id,
                    "mode": mode,
                    "sandboxState": sandbox_state,
                    "logPath": None if log_path is None else str(log_path),
                },
            )

    def on_chunk(self, stream: str, text: str, raw: int) -> None:
        if self.observer is not None and text:
            self.observer(stream, text)
        if self.emitter is None:
            return
        if raw:
            seen = self._seen.get(stream, 0)
            self._seen[stream] = seen + raw
            if seen >= INLINE_LIMIT and self.log is not None:
                # The capture wrote these bytes to the log just before calling us.
                self._offset[stream] = self.log.tell() - raw
            else:
                self._offset.pop(stream, None)
        offset = self._offset.get(stream)
        if offset is None:  # the head of the stream (or no log): the text itself
            for piece in split_utf8(text):
                self._emit_chunk({"stream": stream, "data": piece, "bytes": _size(piece)})
        elif self.wants_data:
            for piece in split_utf8(text):
                size = _size(piece)
                self._emit_chunk(
                    {"stream": stream, "data": piece, "bytes": size, "logOffset": offset}
                )
                offset += size
            self._offset[stream] = offset
        elif raw:
            self._refer(stream, offset, raw)

    def _emit_chunk(self, fields: dict[str, Any]) -> None:
        assert self.emitter is not None
        if self._pending is not None:
            self.flush_reference()
        self.emitter.emit(
            "exec:chunk", {"correlationId": self.correlation_id, "seq": self.seq, **fields}
        )
        self.seq += 1

    def _refer(self, stream: str, offset: int, size: int) -> None:
        # Grow the pending reference while the log bytes stay contiguous and it is young.
        pending = self._pending
        if pending is not None:
            if (
                pending[0] == stream
                and pending[1] + pending[2] == offset
                and pending[2] + size <= REFERENCE_SPAN
                and time.monotonic() - pending[3] < REFERENCE_DELAY
            ):
                pending[2] += size
                return
            self.flush_reference()
        self._pending = [stream, offset, size, time.monotonic()]

    def flush_reference(self) -> None:
        """Emit the reference that is still growing, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            stream, offset, size, _ = pending
            self._emit_chunk({"stream": stream, "bytes": size, "logOffset": offset})

    def close_log(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None

    def end(
        self,
        *,
        exit_code: int | None,
        signal: int | None,
        timed_out: bool,
        captures: Mapping[str, StreamCapture],
        detached: Sequence[Detached] = (),
    ) -> CommandResult:
        finished = {name: capture.finish() for name, capture in captures.items()}
        if self.emitter is not None:
            self.flush_reference()
        self.close_log()
        result = CommandResult(
            correlation_id=self.correlation_id,
            argv=self.argv,
            cwd=self.cwd,
            session_id=self.session_id,
            mode=self.mode,
            exit_code=exit_code,
            signal=signal,
            timed_out=timed_out,
            started_at=self.started_at,
            completed_at=now_iso(),
            duration_ms=round((time.monotonic() - self.t0) * 1000, 3),
            streams=finished,
            log_path=self.log_path,
            sandbox_state=self.sandbox_state,
            detached=tuple(detached),
            exit_code_source=self.exit_code_source,
        )
        if self.emitter is not None and self.bracket:
            self.emitter.emit("exec:end", {"command": result.to_record()})
        return result
