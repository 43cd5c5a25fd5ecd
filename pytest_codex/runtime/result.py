"""What one command left: exit status, timing, and each stream's capture."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    def text(self, stream: str | None = None) -> str:
        """One stream's head/tail text (default: stdout, else the PTY stream)."""
        name = stream or ("stdout" if "stdout" in self.streams else "pty")
        capture = self.streams.get(name)
        return capture.text() if capture is not None else ""

    def to_record(self) -> dict[str, Any]:
        """The manifest's ``commands[]`` record."""
        return {
            "id": self.correlation_id,
            "correlationId": self.correlation_id,
            "argv": list(self.argv),
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "mode": self.mode,
            "sandboxState": self.sandbox_state,
            "exitCode": self.exit_code,
            "signal": self.signal,
            "timedOut": self.timed_out,
            "startedAt": self.started_at,
            "completedAt": self.completed_at,
            "durationMs": self.duration_ms,
            "bytes": {name: s.total for name, s in self.streams.items()},
            "truncated": {name: s.truncated for name, s in self.streams.items()},
            "omitted": {name: s.omitted for name, s in self.streams.items()},
            "logPath": None if self.log_path is None else str(self.log_path),
            "detached": [dict(d) for d in self.detached],
        }
