"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import math
import resource
import statistics
import subprocess
import time
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def summary(label: str, samples_ms: Sequence[float]) -> str:
    """``label: median X ms, p95 Y ms (n=N)``."""
    return (
        f"{label}: median {statistics.median(samples_ms):.3f} ms, "
        f"p95 {percentile(samples_ms, 0.95):.3f} ms (n={len(samples_ms)})"
    )


def wall(argv: Sequence[str], **kwargs: object) -> float:
    """Seconds one command takes, start to exit."""
    started = time.perf_counter()
    subprocess.run(
        argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs
    )  # type: ignore[call-overload]
    return time.perf_counter() - started


def timed(argv: Sequence[str], **kwargs: object) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child and its children) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs
    )  # type: ignore[call-overload]
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
