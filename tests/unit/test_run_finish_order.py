"""``Run.finish`` writes everything before the caller's reporters see ``run:summary``, and
holds SIGTERM until it is done (a client may kill the process on the final event)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.context import Context
from pytest_codex.events import Event
from pytest_codex.run import Run, signals_held


class _Exporter:
    """A configured-style sink (as OTEL is): flushed on close."""

    name = "exporter"

    def __init__(self) -> None:
        self.closed = False

    def handle(self, event: Event) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class _Reporter:
    """A stdout-like sink: records what is on disk when it sees the final event."""

    name = "reporter"

    def __init__(self, exporter: _Exporter) -> None:
        self.exporter = exporter
        self.seen_at_summary: dict[str, Any] | None = None

    def handle(self, event: Event) -> None:
        if event.type != "run:summary":
            return
        run = event.payload["run"]
        manifest = json.loads(Path(run["manifestPath"]).read_text())
        root = Path(run["artifactRoot"]).parents[3]
        self.seen_at_summary = {
            "manifest": manifest["status"],
            "state": json.loads((root / "out" / "t" / "state.json").read_text())["status"],
            "metrics": (root / ".runs" / "t" / "metrics.json").is_file(),
            "exporter closed": self.exporter.closed,
            "reporter health": manifest["sinks"]["reporter"]["state"],
        }

    def close(self) -> None:
        pass


def test_the_final_event_reaches_reporters_after_every_record_is_written(tmp_path: Path) -> None:
    context = Context.load(
        cwd=tmp_path, cli={"task": "t"}, env={"CODEX_ORCHESTRATOR_ROOT": str(tmp_path)}
    )
    exporter = _Exporter()
    reporter = _Reporter(exporter)
    run = Run.start(context, sinks=[reporter], heartbeat=False)
    run.add_sink(exporter)
    run.finish("failed", detail="boom")
    assert reporter.seen_at_summary == {
        "manifest": "failed",
        "state": "failed",
        "metrics": True,
        "exporter closed": True,
        "reporter health": "closed",
    }


def test_signals_held_delivers_sigterm_after_the_block() -> None:
    order: list[str] = []

    def handler(signum: int, frame: object) -> None:
        order.append("handled")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            order.append("block finished")
        assert order == ["block finished", "handled"]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_signals_held_leaves_an_ignored_signal_ignored() -> None:
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with signals_held():
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("status", ["succeeded", "cancelled"])
def test_finish_restores_the_handlers(tmp_path: Path, status: str) -> None:
    context = Context.load(
        cwd=tmp_path, cli={"task": "t"}, env={"CODEX_ORCHESTRATOR_ROOT": str(tmp_path)}
    )
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    Run.start(context, heartbeat=False).finish(status)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
