"""The xdist worker side of a recording session.

Workers never write the manifest: the controller does. A :class:`WorkerRun` has the run's
identity and paths, and buffers the events tests emit; :class:`ReportEnricher` puts that
buffer (``report.codex_events``) and the test's marker names on the test's reports, which
travel to the controller, which re-emits the events on the real bus.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from ..handle import RunIdentity
from ..paths import RunPaths

if TYPE_CHECKING:
    from ..context import Context


# Where the controller tells each xdist worker which run it works for (``workerinput``).
WORKERINPUT_KEY = "codex_run"


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

    @property
    def pending(self) -> bool:
        """Whether events wait for the next report."""
        return bool(self._pending)

    def drain(self) -> list[dict[str, Any]]:
        """Hand over the buffered events (and forget them)."""
        pending, self._pending = self._pending, []
        return pending


class ReportEnricher:
    """Attaches marker names and test-emitted events to every report (in workers)."""

    def __init__(self, worker_run: WorkerRun | None) -> None:
        self.worker_run = worker_run

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Plain JSON-able attributes survive xdist's report serialisation."""
        report = yield
        # Markers ride on the first report of a test only.
        if call.when == "setup":
            report.codex_markers = sorted({m.name for m in item.iter_markers()})  # type: ignore[attr-defined]
        if self.worker_run is not None and self.worker_run.pending:
            # Only reports that carry events get the attribute: xdist serialises every
            # attribute of every report it sends.
            report.codex_events = self.worker_run.drain()  # type: ignore[attr-defined]
        return report
