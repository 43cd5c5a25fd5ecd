"""Every attempt runner in one place: how one attempt of a command runs.

The ToolOrchestrator decides *whether* and *how often* a command runs (approvals, sandbox,
retries); a runner runs it *once*, as ``[*sandbox_prefix, *argv]``, and reports an
:class:`AttemptOutcome`. Three runners exist:

- :func:`subprocess_runner` (the default) and :func:`pipe_attempt`: the pipe mode, no
  events, output kept in memory under a cap.
- :func:`capturing_runner`: the pipe mode keeping each stream's text apart (guardrails read
  stdout and stderr separately).
- :class:`StreamingRunner`: through an :class:`~pytest_codex.runtime.ExecSessionManager` (PTY
  or pipe) or a run's named session server, streaming chunks as events and writing one log
  per attempt (``exec`` and pipeline command stages).

This module knows the runtime and the sandbox's launch statuses only: never the orchestrator
or approvals (the orchestrator imports runners from here).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..sandbox import launch_status
from .capture import DEFAULT_MEMORY_CAP
from .pipe import run_pipe

if TYPE_CHECKING:
    from ..emitter import Emitter
    from .manager import CommandHandle, ExecSessionManager, OutputObserver
    from .result import CommandResult


@dataclass(frozen=True)
class AttemptOutcome:
    """What one run of a command gave: exit status (None if it never finished), the combined
    output, the duration in seconds and whether it timed out."""

    exit_code: int | None
    output_text: str
    duration: float
    timed_out: bool = False


class Runner(Protocol):
    """Runs ``[*sandbox_prefix, *argv]`` in ``cwd`` with ``env`` (None: inherit)."""

    def __call__(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str] | None,
        sandbox_prefix: Sequence[str],
        timeout: float | None,
    ) -> AttemptOutcome:
        """Run once and report."""
        ...


def pipe_attempt(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None,
    sandbox_prefix: Sequence[str],
    timeout: float | None,
    *,
    cap: int,
) -> tuple[AttemptOutcome, dict[str, str]]:
    """One attempt in the exec runtime's pipe mode (no PTY, no stdin, no events): its
    outcome and each stream's text (head and tail, at most ``cap`` bytes each in memory).

    Exit statuses follow the shell: 127 when the program is not found, 126 when it cannot be
    executed, 128+N when killed by signal N. On timeout the whole process group is killed.
    """
    started = time.monotonic()
    code, sig, timed_out, captures = run_pipe(
        [*sandbox_prefix, *argv],
        cwd=cwd,
        env=env,
        timeout=timeout,
        log=None,
        on_chunk=None,
        cap=cap,
    )
    streams = {name: capture.finish().text() for name, capture in captures.items()}
    exit_code = None if timed_out else (128 + sig if sig is not None else code)
    exit_code = launch_status(exit_code, streams["stderr"], bool(sandbox_prefix))
    outcome = AttemptOutcome(
        exit_code, "".join(streams.values()), time.monotonic() - started, timed_out=timed_out
    )
    return outcome, streams


def subprocess_runner(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None,
    sandbox_prefix: Sequence[str],
    timeout: float | None,
) -> AttemptOutcome:
    """The default runner: :func:`pipe_attempt` under the runtime's default memory cap."""
    outcome, _ = pipe_attempt(argv, cwd, env, sandbox_prefix, timeout, cap=DEFAULT_MEMORY_CAP)
    return outcome


def capturing_runner(streams: dict[str, str], *, cap: int = DEFAULT_MEMORY_CAP) -> Runner:
    """A pipe-mode runner that keeps the last attempt's stdout and stderr apart in
    ``streams`` (``{"stdout": ..., "stderr": ...}``)."""

    def run(
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str] | None,
        sandbox_prefix: Sequence[str],
        timeout: float | None,
    ) -> AttemptOutcome:
        outcome, texts = pipe_attempt(argv, cwd, env, sandbox_prefix, timeout, cap=cap)
        streams.update(texts)
        return outcome

    return run


@dataclass
class StreamingRunner:
    """Runs attempts through the exec runtime, streaming chunks to ``emitter``.

    Attempt ``n`` logs to ``<log_stem>.attempt<n>.log``. With ``session_id`` (PTY mode) the
    first attempt runs in the run's named session server under ``server_dir``, so the shell
    outlives this process; an escalated retry needs another sandbox, so it runs in a fresh
    shell. :attr:`attempts` and :attr:`logs` keep every attempt's result and log path.

    ``observer`` sees each attempt's (redacted) output as it is read; ``on_start`` is called
    as each attempt starts, with the :class:`~pytest_codex.runtime.manager.CommandHandle` of
    a PTY attempt that runs as its own process (so a caller can type into it while it runs),
    with None in pipe mode (stdin closed).
    """

    manager: ExecSessionManager
    emitter: Emitter
    correlation_id: str
    log_stem: Path
    mode: str = "pty"
    session_id: str | None = None
    server_dir: Path | None = None
    idle_timeout: float = 900.0
    observer: OutputObserver | None = None
    on_start: Callable[[CommandHandle | None], None] | None = None
    attempts: list[CommandResult] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    def __call__(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str] | None,
        sandbox_prefix: Sequence[str],
        timeout: float | None,
    ) -> AttemptOutcome:
        """Run one attempt and report it."""
        number = len(self.attempts) + 1
        log = self.log_stem.with_name(f"{self.log_stem.name}.attempt{number}.log")
        if self.session_id is not None and self.server_dir is not None and number == 1:
            from .session_server import ensure_server, run_in_server

            server = ensure_server(
                self.server_dir,
                self.session_id,
                cwd=cwd,
                wrapper=tuple(sandbox_prefix),
                idle_timeout=self.idle_timeout,
            )
            result = run_in_server(
                server,
                shlex.join(argv),
                session_id=self.session_id,
                timeout=timeout,
                log_path=log,
                emitter=self.emitter,  # the session server forwards chunks only
                correlation_id=self.correlation_id,
                cwd=str(cwd),
                argv=list(argv),
                secrets=self.manager.secrets,
                raw_logs=self.manager.raw_logs,
            )
        elif self.mode == "pty" and self.on_start is not None:
            handle = self.manager.start(
                list(argv),
                cwd=cwd,
                env=env,
                timeout=timeout,
                log_path=log,
                emitter=self.emitter,
                correlation_id=self.correlation_id,
                wrapper=tuple(sandbox_prefix),
                bracket=False,  # exec:begin/exec:end bracket all attempts, emitted by the caller
                observer=self.observer,
            )
            self.on_start(handle)
            result = handle.result()
        else:
            if self.on_start is not None:
                self.on_start(None)
            result = self.manager.run(
                list(argv),
                mode=self.mode,
                cwd=cwd,
                env=env,
                timeout=timeout,
                log_path=log,
                emitter=self.emitter,
                correlation_id=self.correlation_id,
                wrapper=tuple(sandbox_prefix),
                bracket=False,  # exec:begin/exec:end bracket all attempts, emitted by the caller
                observer=self.observer,
            )
        self.attempts.append(result)
        self.logs.append(str(log))
        exit_code = result.exit_code
        if exit_code is None and result.signal is not None:
            exit_code = 128 + result.signal
        text = "".join(capture.text() for capture in result.streams.values())
        exit_code = launch_status(exit_code, text, bool(sandbox_prefix))
        return AttemptOutcome(exit_code, text, result.duration_ms / 1000, result.timed_out)


__all__ = [
    "AttemptOutcome",
    "Runner",
    "StreamingRunner",
    "capturing_runner",
    "pipe_attempt",
    "subprocess_runner",
]
