"""ToolOrchestrator overhead: cached invocations of a no-op callable.

Every call needs approval (``requires_approval=True`` under ``on-request``) and is served by a
session grant, so each one pays for the whole path: ``tool:start``, the rule check, the cache
lookup (including the ``stat`` of the task's ``approvals.json``), the attempt, the record and
``tool:complete``. The no-op's own cost is measured separately and subtracted.

Usage: ``python bench/orchestrator_overhead.py [--calls 1000] [--json]``. Goal: median
overhead at most 0.2 ms per call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_codex.approvals import ApprovalCache, DenyApprover
from pytest_codex.orchestrator import PythonCall, ToolOrchestrator

GOAL_MS = 0.2


class CountingEmitter:
    """An emitter that only counts, so the bench measures the orchestrator, not a sink."""

    def __init__(self) -> None:
        self.count = 0

    def emit(self, type: str, payload: Mapping[str, Any]) -> None:
        """Count the event."""
        self.count += 1


def noop() -> None:
    """The tool."""


def percentile(samples: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of ``samples`` (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(calls: int) -> dict[str, Any]:
    """Time ``calls`` cached invocations and as many bare calls; per-call figures in ms."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        emitter = CountingEmitter()
        cache = ApprovalCache.for_task(root / ".runs", "bench")
        cache.grant("noop", scope="session")
        orchestrator = ToolOrchestrator(
            emitter, workspace=root, cache=cache, approver=DenyApprover(), backend="none"
        )
        call = PythonCall(noop, name="noop", requires_approval=True)
        for _ in range(50):  # warm-up
            orchestrator.invoke(call)

        invoked: list[float] = []
        for _ in range(calls):
            started = time.perf_counter_ns()
            orchestrator.invoke(call)
            invoked.append((time.perf_counter_ns() - started) / 1e6)

        bare: list[float] = []
        for _ in range(calls):
            started = time.perf_counter_ns()
            noop()
            bare.append((time.perf_counter_ns() - started) / 1e6)

        metrics = orchestrator.metrics()
    base = statistics.median(bare)
    overhead = [sample - base for sample in invoked]
    return {
        "calls": calls,
        "medianMs": round(statistics.median(overhead), 4),
        "p95Ms": round(percentile(overhead, 0.95), 4),
        "p99Ms": round(percentile(overhead, 0.99), 4),
        "meanMs": round(statistics.fmean(overhead), 4),
        "bareMedianMs": round(base, 5),
        "eventsPerCall": emitter.count / (calls + 50),
        "approvalReuse": metrics["approvalReuse"],
        "goalMs": GOAL_MS,
        "withinGoal": statistics.median(overhead) <= GOAL_MS,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print the figures; exit 1 when the median misses the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="timed invocations (1000)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.calls)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"{figures['calls']} cached invocations of a no-op callable: overhead per call "
            f"median {figures['medianMs']:.4f} ms, p95 {figures['p95Ms']:.4f} ms, "
            f"p99 {figures['p99Ms']:.4f} ms, mean {figures['meanMs']:.4f} ms "
            f"(goal: median <= {GOAL_MS} ms: {'met' if figures['withinGoal'] else 'MISSED'})"
        )
    return 0 if figures["withinGoal"] else 1


if __name__ == "__main__":
    sys.exit(main())
