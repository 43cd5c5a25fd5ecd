"""One command, end to end: ToolOrchestrator (approval, sandbox, retries) over the exec runtime.

``exec:begin`` and ``exec:end`` bracket the whole invocation; each attempt the orchestrator
makes streams ``exec:chunk`` events and writes its own log (``commands/NN-<id>.log``, with
``.attemptN`` before the suffix for earlier attempts), and sandbox retries appear as
``tool:retry`` between the two. The ``commands[]`` record is the final attempt's, plus the
tool run's id and every attempt's log.
"""

from __future__ import annotations

import secrets
import signal as _signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import make_dirs
from .config import ExecSettings, ResolvedConfig
from .errors import CodexError
from .handle import RunHandle
from .orchestrator import (
    ShellCommand,
    ToolOrchestrator,
    ToolResult,
)
from .records import EXEC_BEGIN, EXEC_END, CommandRecord, command_record
from .runtime import CommandHandle, CommandResult, ExecSessionManager
from .runtime.manager import OutputObserver
from .runtime.runners import StreamingRunner
from .sandbox import protected_paths
from .timeutil import now_iso, parse_timestamp

_counter_lock = threading.Lock()


def _next_index(commands_dir: Path) -> int:
    # NN is the command's position in the run; resumed runs continue after existing logs.
    with _counter_lock:
        make_dirs(commands_dir)  # refuses a symlink on the way
        existing = [p.name.split("-", 1)[0] for p in commands_dir.glob("*.log")]
        numbers = [int(n) for n in existing if n.isdigit()]
        return (max(numbers) + 1) if numbers else 1


@dataclass
class CommandExecution:
    """The outcome of :func:`execute_command`."""

    argv: list[str]
    cwd: Path
    session_id: str | None
    tool: ToolResult[None] | None
    result: CommandResult | None
    record: CommandRecord
    error: BaseException | None = None
    logs: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """What ``exec`` exits with: the command's status, or the orchestrator's code."""
        if self.error is not None:
            return int(getattr(self.error, "exit_code", 1))
        if self.result is None:
            return 1
        if self.result.timed_out:
            return 124
        if self.result.exit_code is None:
            return 128 + (self.result.signal or 0)
        outcome = self.tool.outcome if self.tool is not None else None
        if outcome is not None and outcome.exit_code is not None:
            # The final attempt's status as the shell reports it (127 for a program the
            # sandbox could not find, where bubblewrap itself exits 1).
            return int(outcome.exit_code)
        return int(self.result.exit_code)

    @property
    def status(self) -> str:
        """``succeeded`` when the command ran and exited 0."""
        return "succeeded" if self.error is None and self.exit_code == 0 else "failed"

    @property
    def detail(self) -> str | None:
        """Why it failed, in one line."""
        if self.error is not None:
            return str(self.error)
        if self.result is not None and self.result.timed_out:
            return "command timed out"
        if self.exit_code != 0:
            return f"command exited with status {self.exit_code}"
        return None

    def stdout_text(self) -> str:
        """The command's stdout (its PTY output in PTY mode), head and tail."""
        if self.result is None:
            return ""
        stream = "stdout" if "stdout" in self.result.streams else "pty"
        capture = self.result.streams.get(stream)
        return capture.text() if capture is not None else ""

    def outputs(self) -> dict[str, Any]:
        """Head and tail of each stream, with the omitted byte counts."""
        if self.result is None:
            return {}
        return {
            name: {
                "text": capture.text(),
                "bytes": capture.total,
                "omitted": capture.omitted,
                "truncated": capture.truncated,
            }
            for name, capture in self.result.streams.items()
        }

    def summary(self) -> dict[str, Any]:
        """The exec-specific parts of ``run:summary``."""
        tool_record: Mapping[str, Any] | None = None
        if self.tool is not None:
            tool_record = self.tool.record
        elif self.error is not None:
            tool_record = getattr(self.error, "record", None)
        return {
            "result": {
                "exitCode": self.exit_code,
                "signal": self.result.signal if self.result else None,
                "durationMs": self.record.get("durationMs"),
                "sandboxState": (tool_record or {}).get("sandboxState"),
                "attempts": len((tool_record or {}).get("attempts", [])) or None,
            },
            "command": {
                "argv": list(self.argv),
                "cwd": str(self.cwd),
                "session": self.session_id,
            },
            "logs": {"command": self.record.get("logPath"), "attempts": list(self.logs)},
            "toolRun": dict(tool_record) if tool_record else None,
        }


def execute_command(
    run: RunHandle,
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    session_id: str | None = None,
    mode: str = "pty",
    orchestrator: ToolOrchestrator | None = None,
    manager: ExecSessionManager | None = None,
    writable_roots: Sequence[Path] = (),
    requires_approval: bool = False,
    observer: OutputObserver | None = None,
    on_start: Callable[[CommandHandle | None], None] | None = None,
) -> CommandExecution:
    """Run ``argv`` as one tool invocation of ``run``; never raises for the command's own
    failure (the record says what happened), only for bugs.

    ``observer`` sees the (redacted) output as it is read; ``on_start`` gets the handle of
    each PTY attempt (to type into it while it runs). Both are for callers that hand a
    running command to someone else, as the MCP server does."""
    settings = ExecSettings.from_config(getattr(run, "config", None))
    if timeout is None:
        timeout = settings.timeout_seconds
    own_manager = manager is None
    config = getattr(run, "config", None)
    known: list[str] = config.secret_values() if isinstance(config, ResolvedConfig) else []
    manager = manager or ExecSessionManager(**settings.manager_options(), secrets=known)
    # The runs and out directories stay read-only in the sandbox: this run records the
    # command (a suite it runs records nothing of its own there).
    orchestrator = orchestrator or ToolOrchestrator.for_run(
        run, writable_roots=writable_roots, protected=protected_paths(run.paths, config=config)
    )
    correlation_id = secrets.token_hex(6)
    index = _next_index(run.paths.commands_dir)
    final_log = run.paths.commands_dir / f"{index:02d}-{correlation_id}.log"
    use_session = session_id if mode == "pty" else None
    started = now_iso()
    run.emit(
        EXEC_BEGIN,
        {
            "correlationId": correlation_id,
            "argv": list(argv),
            "cwd": str(cwd),
            "sessionId": use_session,
            "mode": mode,
            "sandboxState": "sandboxed" if orchestrator.sandbox.enforced else "unsandboxed",
            "logPath": str(final_log),
            "startedAt": started,
        },
    )
    attempt = StreamingRunner(
        manager=manager,
        emitter=run,
        correlation_id=correlation_id,
        log_stem=final_log.with_name(f"{index:02d}-{correlation_id}"),
        mode=mode,
        session_id=use_session,
        server_dir=run.paths.run_dir,
        idle_timeout=settings.idle_timeout_seconds,
        observer=observer,
        on_start=on_start,
    )
    attempts, logs = attempt.attempts, attempt.logs

    tool: ToolResult[None] | None = None
    error: BaseException | None = None
    try:
        tool = orchestrator.invoke(
            ShellCommand(
                list(argv),
                cwd,
                env,
                timeout,
                requires_approval,
                None,
                "shell",
                None,
                runner=attempt,
            )
        )
    except Exception as exc:  # refused / denied / exhausted: recorded, mapped to exit codes
        error = exc
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the tree is killed, then recorded
        if own_manager:
            manager.close_all()
        record = _record(None, correlation_id, argv, cwd, use_session, mode, final_log, started)
        record["signal"] = int(getattr(exc, "signum", _signal.SIGINT))
        record["durationMs"] = _elapsed_ms(started)
        # The interrupted attempt's log is on disk though no result names it yet.
        stem = f"{index:02d}-{correlation_id}.attempt"
        logs = sorted(str(p) for p in run.paths.commands_dir.glob(f"{stem}*.log"))
        if logs:
            Path(logs[-1]).replace(final_log)
            logs[-1] = str(final_log)
            record["logPath"] = str(final_log)
        record["attemptLogs"] = logs
        run.emit(EXEC_END, {"command": record})
        raise
    finally:
        if own_manager:
            manager.close_all()
    final = attempts[-1] if attempts else None
    if final is not None and logs:
        # The last attempt's log is the command's log.
        Path(logs[-1]).replace(final_log)
        logs[-1] = str(final_log)
    tool_record = tool.record if tool is not None else getattr(error, "record", None)
    record = _record(final, correlation_id, argv, cwd, use_session, mode, final_log, started)
    if tool_record:
        record["toolRunId"] = tool_record.get("id")
        record["sandboxState"] = tool_record.get("sandboxState", record.get("sandboxState"))
    record["attemptLogs"] = list(logs)
    record["logRedacted"] = manager.redact and not manager.raw_logs
    run.emit(EXEC_END, {"command": record})
    return CommandExecution(list(argv), cwd, use_session, tool, final, record, error, logs)


def _elapsed_ms(started: str) -> float:
    return round((parse_timestamp(now_iso()) - parse_timestamp(started)).total_seconds() * 1000, 3)


def _record(
    result: CommandResult | None,
    correlation_id: str,
    argv: Sequence[str],
    cwd: Path,
    session_id: str | None,
    mode: str,
    log: Path,
    started: str,
) -> CommandRecord:
    """The ``commands[]`` record: the final attempt's, under the final log's name; a command
    that never ran (refused, denied before starting) still gets one."""
    if result is not None:
        record = result.to_record()
        record["logPath"] = str(log)
        return record
    return command_record(
        correlation_id=correlation_id,
        argv=argv,
        cwd=str(cwd),
        session_id=session_id,
        mode=mode,
        sandbox_state="unsandboxed",
        exit_code=None,
        signal=None,
        timed_out=False,
        started_at=started,
        completed_at=now_iso(),
        duration_ms=0.0,
        exit_code_source="shell" if session_id is not None else "kernel",
    )


@contextmanager
def finish_on_error(run: Any) -> Iterator[None]:
    """Finish ``run`` when the block raises (``cancelled`` for Ctrl-C, else ``failed``, with
    the error as its detail), then let the error propagate: no run stays ``in_progress``."""
    try:
        yield
    except BaseException as exc:
        if not run.finished:
            message = str(exc) if isinstance(exc, CodexError) else f"{type(exc).__name__}: {exc}"
            status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
            if isinstance(exc, KeyboardInterrupt):
                signum = int(getattr(exc, "signum", _signal.SIGINT))
                name = _signal.Signals(signum).name
                message = f"{name} received: the command tree was killed and the run cancelled"
            run.finish(status, detail=message)
        raise
