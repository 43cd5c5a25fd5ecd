"""A Python client for ``codex-orchestrator exec``: typed events as they arrive, results,
resume, retries, timeouts and cancellation.

The client spawns the CLI with ``--jsonl`` and reads one envelope per line::

    client = CodexOrchestrator(task="0303-orchestrator-autonomy")
    for event in client.stream(["pytest", "-q"]):
        print(event.seq, event.type)
    result = client.run(["pytest", "-q"])          # ExecResult: summary, manifest, exit code
    again = client.resume(result.run_id, ["ruff", "check"], reopen=True)
    flaky = client.run_with_retry(["./deploy.sh"], retry_on={75}, attempts=3)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CodexError
from .events import Event


class SdkError(CodexError):
    """The CLI misbehaved: a malformed line, or an exit without a ``run:summary``.

    ``stderr`` holds what the CLI printed there."""

    def __init__(self, message: str, stderr: str = "", exit_code: int | None = None) -> None:
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        super().__init__(f"{message}: {detail}" if detail else message)
        self.stderr = stderr
        self.returncode = exit_code


class SdkTimeoutError(SdkError):
    """The invocation ran past its timeout and was killed."""


class SdkCancelledError(SdkError):
    """The invocation was cancelled and killed."""


@dataclass(frozen=True)
class ExecResult:
    """One finished invocation."""

    exit_code: int
    summary: Mapping[str, Any]
    events: Sequence[Event]
    stderr: str

    @property
    def run_id(self) -> str:
        """The run the command ran in."""
        return str(self.summary["run"]["id"])

    @property
    def manifest_path(self) -> Path:
        """Where the run's manifest is."""
        return Path(self.summary["run"]["manifestPath"])

    @property
    def status(self) -> str:
        """``succeeded``, ``failed`` or ``cancelled``."""
        return str(self.summary["status"])

    @property
    def ok(self) -> bool:
        """Whether the command succeeded."""
        return self.exit_code == 0 and self.status == "succeeded"

    def manifest(self) -> dict[str, Any]:
        """The run's manifest, read from disk."""
        document: dict[str, Any] = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return document


# SIGTERM to SIGKILL: above what the CLI may take to finish a run it was told to end (the
# notification bound, longest target timeout + 0.5 s, plus the OTEL flush bound; 7.5 s
# with the defaults), so a cancelled run is written in full before anything is forced.
KILL_GRACE_SECONDS = 10.0


@dataclass
class ExecStream:
    """A running invocation: iterate it for events; ``cancel()`` kills it (SIGTERM to its
    process group, SIGKILL after ``kill_grace`` seconds)."""

    process: subprocess.Popen[str]
    timeout: float | None
    kill_grace: float = KILL_GRACE_SECONDS
    events: list[Event] = field(default_factory=list)
    _stderr: list[str] = field(default_factory=list)
    _expired: bool = False
    _cancelled: bool = False
    _result: ExecResult | None = None

    def __post_init__(self) -> None:
        assert self.process.stderr is not None
        # stderr is drained in the background so a chatty child never blocks on it.
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        self._timer: threading.Timer | None = None
        if self.timeout is not None:
            self._timer = threading.Timer(self.timeout, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        """What the CLI has printed on stderr so far."""
        return "".join(self._stderr)

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=self.kill_grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def _expire(self) -> None:
        self._expired = True
        self._kill()

    def cancel(self) -> None:
        """Kill the invocation (and everything it started)."""
        self._cancelled = True
        self._kill()

    def __iter__(self) -> Iterator[Event]:
        assert self.process.stdout is not None
        try:
            for number, line in enumerate(self.process.stdout, start=1):
                try:
                    event = Event.from_dict(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    # Let a broken child finish what it says on stderr before it goes.
                    try:
                        self.process.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        self._kill()
                    raise SdkError(
                        f"line {number} of the CLI's output is not an event envelope "
                        f"({type(exc).__name__}: {line[:200]!r})",
                        self._finish_stderr(),
                    ) from exc
                self.events.append(event)
                yield event
        finally:
            self._close()

    def _finish_stderr(self) -> str:
        self._stderr_thread.join(timeout=5)
        return self.stderr

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._kill()

    def result(self) -> ExecResult:
        """Consume the stream (if not yet) and return the result."""
        if self._result is not None:
            return self._result
        for _ in self:
            pass
        code = self.process.wait()
        stderr = self._finish_stderr()
        if self._expired:
            raise SdkTimeoutError(f"timed out after {self.timeout}s", stderr, code)
        if self._cancelled:
            raise SdkCancelledError("cancelled", stderr, code)
        summaries = [e for e in self.events if e.type == "run:summary"]
        if not summaries:
            raise SdkError(f"the CLI exited with {code} before run:summary", stderr, code)
        self._result = ExecResult(code, summaries[-1].payload, tuple(self.events), stderr)
        return self._result


class CodexOrchestrator:
    """Runs ``codex-orchestrator exec`` as a child process and reads its events."""

    def __init__(
        self,
        *,
        task: str | None = None,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        executable: Sequence[str] | None = None,
        options: Sequence[str] = (),
        kill_grace: float = KILL_GRACE_SECONDS,
    ) -> None:
        self.task = task
        self.kill_grace = kill_grace
        self.cwd = None if cwd is None else Path(cwd)
        self.env = dict(os.environ if env is None else env)
        self.executable = list(executable or [sys.executable, "-P", "-m", "pytest_codex.cli"])
        self.options = list(options)

    def _argv(
        self, command: Sequence[str], head: Sequence[str], options: Sequence[str]
    ) -> list[str]:
        argv = [*self.executable, *head, "--jsonl", *self.options, *options]
        if self.task:
            argv += ["--task", self.task]
        return [*argv, "--", *command]

    def _spawn(self, argv: list[str], timeout: float | None) -> ExecStream:
        process = subprocess.Popen(
            argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,  # so timeout and cancel kill the whole tree
        )
        return ExecStream(process, timeout, kill_grace=self.kill_grace)

    def stream(
        self,
        command: Sequence[str],
        *,
        timeout: float | None = None,
        options: Sequence[str] = (),
    ) -> ExecStream:
        """Start ``exec -- command``; iterate the returned stream for events."""
        return self._spawn(self._argv(command, ["exec"], options), timeout)

    def run(
        self, command: Sequence[str], *, timeout: float | None = None, options: Sequence[str] = ()
    ) -> ExecResult:
        """Run ``command`` in a new run and return its result."""
        return self.stream(command, timeout=timeout, options=options).result()

    def resume(
        self,
        run_id: str,
        command: Sequence[str],
        *,
        reopen: bool = False,
        timeout: float | None = None,
        options: Sequence[str] = (),
    ) -> ExecResult:
        """Run ``command`` in the existing run ``run_id`` (or ``latest``)."""
        head = ["resume", run_id, *(["--reopen"] if reopen else [])]
        return self._spawn(self._argv(command, head, options), timeout).result()

    def run_with_retry(
        self,
        command: Sequence[str],
        *,
        retry_on: Container[int] | Callable[[ExecResult], bool] = frozenset({1}),
        attempts: int = 3,
        backoff: float = 0.25,
        factor: float = 2.0,
        timeout: float | None = None,
        on_attempt: Callable[[int, ExecResult], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> ExecResult:
        """Run, and run again (each attempt a run of its own, reported to ``on_attempt``)
        while the result is retryable: an exit code in ``retry_on``, or ``retry_on(result)``."""
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        delay = backoff
        for attempt in range(1, attempts + 1):
            result = self.run(command, timeout=timeout)
            if on_attempt is not None:
                on_attempt(attempt, result)
            retryable = retry_on(result) if callable(retry_on) else result.exit_code in retry_on
            if result.ok or not retryable or attempt == attempts:
                return result
            sleep(delay)
            delay *= factor
        raise AssertionError("unreachable")  # pragma: no cover
