"""Commands the MCP server started and has not finished reporting: the unified exec model.

An ``exec_command`` call starts one command (its own process, on a PTY or on pipes) in a
worker thread through :func:`~pytest_codex.execution.execute_command` (approvals, sandbox,
retries, events, the ``commands[]`` record) and waits at most its yield time. A command that
ended by then is reported with its exit status; one that is still running keeps going and is
reported with a numeric session id, which ``write_stdin`` calls use to type into it and to
collect what it printed since the last call, until a call reports its exit. This module
knows nothing of MCP: it is the session table and its waits.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import CodexError, ExecError
from ..execution import CommandExecution
from ..runtime import CommandHandle, HeadTailBuffer

MAX_LIVE = 64  # running commands one server keeps at once, as Codex's unified exec
PENDING_CAP = 1 << 20  # bytes of not yet collected output kept (head and tail)


@dataclass(frozen=True)
class Collected:
    """What one ``exec_command`` / ``write_stdin`` call reports."""

    output: str
    omitted: int  # bytes of output dropped between head and tail since the last call
    wall_time: float  # seconds this call waited
    exit_code: int | None  # set once the command is over
    session_id: int | None  # set while it runs
    error: str | None = None  # refused, denied, retries exhausted: the command's story ends


class LiveCommand:
    """One command run by a worker thread; its output collected between calls."""

    def __init__(self, session_id: int, tty: bool) -> None:
        self.session_id = session_id
        self.tty = tty
        self._cond = threading.Condition()
        self._pending = HeadTailBuffer(PENDING_CAP)
        self._handle: CommandHandle | None = None
        self._started_at: float | None = None
        self.execution: CommandExecution | None = None
        self.failure: BaseException | None = None
        self.done = False

    # -- fed by the worker thread ----------------------------------------------------------
    def observe(self, stream: str, text: str) -> None:
        """Output as it is read (the runtime's observer)."""
        with self._cond:
            self._pending.append(text.encode("utf-8", "surrogateescape"))
            self._cond.notify_all()

    def started(self, handle: CommandHandle | None) -> None:
        """An attempt is starting (the runtime's ``on_start``; no handle in pipe mode)."""
        with self._cond:
            self._handle = handle
            if self._started_at is None:
                self._started_at = time.monotonic()
            self._cond.notify_all()

    def finished(
        self, execution: CommandExecution | None, failure: BaseException | None = None
    ) -> None:
        """The command is over (or never ran)."""
        with self._cond:
            self.execution, self.failure, self.done = execution, failure, True
            self._handle = None
            self._cond.notify_all()

    # -- used by the tool calls ------------------------------------------------------------
    def write(self, chars: str) -> None:
        """Type ``chars`` into the command (a PTY command only: pipes have stdin closed)."""
        if not chars:
            return
        if not self.tty:
            raise ExecError(
                f"session {self.session_id} runs without a TTY, so its stdin is closed; "
                "start the command with tty=true to write to it"
            )
        with self._cond:
            handle = self._handle
        if handle is None:
            return  # it ended (or is between attempts): the next collect says so
        # The process may have just closed its terminal; its exit is reported next.
        with contextlib.suppress(OSError):
            handle.send(chars)

    def collect(self, wait: float, *, from_start: bool) -> Collected:
        """Wait until the command ends or ``wait`` seconds have passed (counted from the
        first attempt's start when ``from_start``: an approval that waits for a person does
        not eat the yield time), then take the output gathered since the last call."""
        began = time.monotonic()
        with self._cond:
            if from_start:
                while not self.done and self._started_at is None:
                    self._cond.wait()
            start = max(began, self._started_at or began) if from_start else began
            deadline = start + wait
            while not self.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            head, tail = bytes(self._pending.head), bytes(self._pending.tail)
            omitted = self._pending.omitted
            self._pending = HeadTailBuffer(PENDING_CAP)
            done, execution, failure = self.done, self.execution, self.failure
        output = (head + tail).decode("utf-8", "replace")
        wall = time.monotonic() - began
        if not done:
            return Collected(output, omitted, wall, None, self.session_id)
        if failure is not None:
            return Collected(output, omitted, wall, None, None, error=_one_line(failure))
        assert execution is not None
        if execution.error is not None:
            return Collected(output, omitted, wall, None, None, error=_one_line(execution.error))
        return Collected(output, omitted, wall, execution.exit_code, None)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, CodexError) else f"{type(exc).__name__}: {text}"


class LiveCommands:
    """The running commands of one server, by numeric session id."""

    def __init__(self, limit: int = MAX_LIVE) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._live: dict[int, LiveCommand] = {}
        self._threads: list[threading.Thread] = []

    def start(self, tty: bool, work: Callable[[LiveCommand], CommandExecution]) -> LiveCommand:
        """Run ``work(live)`` in a worker thread; ``live`` is registered until reported."""
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            if len(self._live) >= self.limit:
                raise ExecError(
                    f"{self.limit} commands are already running; poll them with write_stdin "
                    "until they exit (or end them) before starting another"
                )
            session_id = secrets.randbelow(99_000) + 1_000
            while session_id in self._live:
                session_id = secrets.randbelow(99_000) + 1_000
            live = LiveCommand(session_id, tty)
            self._live[session_id] = live

        def run() -> None:
            try:
                execution = work(live)
            except BaseException as exc:  # reported to the caller, never lost in a thread
                live.finished(None, exc)
            else:
                live.finished(execution)

        thread = threading.Thread(target=run, name=f"mcp-exec-{session_id}", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()
        return live

    def get(self, session_id: int) -> LiveCommand:
        """The running command ``session_id``."""
        with self._lock:
            live = self._live.get(session_id)
        if live is None:
            raise ExecError(
                f"no running command has session id {session_id}: it exited and its exit "
                "was reported, or it never existed"
            )
        return live

    def reported(self, live: LiveCommand) -> None:
        """Its exit has been reported: forget it."""
        with self._lock:
            self._live.pop(live.session_id, None)

    def running(self) -> int:
        """How many commands are registered."""
        with self._lock:
            return len(self._live)

    def join(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds in all) for the worker threads to end."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
