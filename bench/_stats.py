"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import math
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
