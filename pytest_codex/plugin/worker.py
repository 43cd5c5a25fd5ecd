"""The run as a pytest-xdist worker sees it.

Workers never write the manifest: the controller does. A :class:`WorkerRun` has the run's
identity and paths, and buffers the events tests emit; the buffer rides on the test's report
(``report.codex_events``) to the controller, which re-emits it on the real bus.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..handle import RunIdentity
from ..paths import RunPaths

if TYPE_CHECKING:
    from ..context import Context


class WorkerRun(RunIdentity):
    """A stand-in for :class:`~pytest_codex.run.Run` inside an xdist worker."""

    runner = "pytest"

    def __init__(self, context: Context, info: Mapping[str, Any]) -> None:
        self.context = context
        self.paths: RunPaths = context.roots.run_paths(str(info["taskId"]), str(info["runId"]))
        self._pending: list[dict[str, Any]] = []

    def emit(self, type: str, payload: Mapping[str, Any] | None = None) -> None:
        """Buffer an event; it reaches the controller with the current test's report."""
        self._pending.append({"type": type, "payload": dict(payload or {})})

    def drain(self) -> list[dict[str, Any]]:
        """Hand over the buffered events (and forget them)."""
        pending, self._pending = self._pending, []
        return pending
