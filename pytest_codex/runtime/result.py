"""What one command left: exit status, timing, and each stream's capture."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..records import CommandRecord, command_record
from .capture import CapturedStream


@dataclass(frozen=True)
class CommandResult:
    """The outcome of one command run by the exec runtime."""

    correlation_id: str
    argv: Sequence[str]
    cwd: str
    session_id: str | None
    mode: str
    exit_code: int | None
    signal: int | None
    timed_out: bool
    started_at: str
    completed_at: str
    duration_ms: float
    streams: Mapping[str, CapturedStream] = field(default_factory=dict)
    log_path: Path | None = None
    sandbox_state: str = "unsandboxed"
    # Processes that had left the command's group, outlived it and were killed.
    detached: Sequence[Mapping[str, Any]] = ()
    # Where exit_code came from: "kernel" (waitpid of the process the runtime started) or
    # "shell" (what a long-lived session shell printed; code the shell ran can fake it).
    exit_code_source: str = "kernel"

    def text(self, stream: str | None = None) -> str:
        """One stream's head/tail text (default: stdout, else the PTY stream)."""
        name = stream or ("stdout" if "stdout" in self.streams else "pty")
        capture = self.streams.get(name)
        return capture.text() if capture is not None else ""

    def to_record(self) -> CommandRecord:
        """The manifest's ``commands[]`` record (built by :func:`records.command_record`)."""
        record = command_record(
            correlation_id=self.correlation_id,
            argv=self.argv,
            cwd=self.cwd,
            session_id=self.session_id,
            mode=self.mode,
            sandbox_state=self.sandbox_state,
            exit_code=self.exit_code,
            signal=self.signal,
            timed_out=self.timed_out,
            started_at=self.started_at,
            completed_at=self.completed_at,
            duration_ms=self.duration_ms,
            streams={n: (s.total, s.truncated, s.omitted) for n, s in self.streams.items()},
            log_path=None if self.log_path is None else str(self.log_path),
            exit_code_source=self.exit_code_source,
        )
        record["detached"] = [dict(d) for d in self.detached]
        return record
