"""The Codex dialect throttles item.updated and keeps the final output for item.completed."""

from __future__ import annotations

from typing import Any

from pytest_codex.events import Event
from pytest_codex.sinks.codex_dialect import AGGREGATE_CAP, UPDATES_PER_SECOND, CodexDialect


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _event(seq: int, type: str, payload: dict[str, Any]) -> Event:
    return Event(type, payload, seq, "2026-12-01T00:00:00.000Z", "run-1")


def _drive(dialect: CodexDialect, clock: Clock, chunks: int, step: float) -> list[dict[str, Any]]:
    out = list(dialect.translate(_event(1, "exec:begin", {"correlationId": "c", "argv": ["x"]})))
    for n in range(chunks):
        payload = {"correlationId": "c", "stream": "stdout", "seq": n, "data": f"{n:07d}\n"}
        out += dialect.translate(_event(2 + n, "exec:chunk", payload))
        clock.now += step
    end = {"command": {"correlationId": "c", "exitCode": 0}}
    out += dialect.translate(_event(2 + chunks, "exec:end", end))
    return out


def test_a_burst_of_chunks_is_one_update_and_the_completion_has_all_of_it() -> None:
    clock = Clock()
    out = _drive(CodexDialect(clock=clock), clock, chunks=1000, step=0.0)
    updates = [o for o in out if o["type"] == "item.updated"]
    assert len(updates) == 1  # the first chunk, at once
    assert updates[0]["item"]["aggregated_output"] == "0000000\n"
    completed = out[-1]["item"]
    assert completed["aggregated_output"] == "".join(f"{n:07d}\n" for n in range(1000))


def test_updates_follow_the_rate_limit() -> None:
    clock = Clock()
    step = 1.0 / (UPDATES_PER_SECOND * 10)
    out = _drive(CodexDialect(clock=clock), clock, chunks=400, step=step)
    updates = [o for o in out if o["type"] == "item.updated"]
    seconds = 400 * step
    assert 2 <= len(updates) <= seconds * UPDATES_PER_SECOND + 1


def test_a_trickle_of_output_costs_linear_bytes() -> None:
    clock = Clock()
    chunks = 20_000  # 8 bytes a second for hours: every chunk past the rate limit
    out = _drive(CodexDialect(clock=clock), clock, chunks=chunks, step=1.0)
    carried = sum(len(o["item"]["aggregated_output"]) for o in out if "item" in o)
    assert carried <= 1.5 * 8 * chunks + 3 * AGGREGATE_CAP


def test_the_aggregated_output_stays_capped() -> None:
    clock = Clock()
    out = _drive(CodexDialect(clock=clock), clock, chunks=50_000, step=1.0)
    sizes = [len(o["item"]["aggregated_output"]) for o in out if "item" in o]
    assert max(sizes) <= AGGREGATE_CAP + 100
    assert out[-1]["item"]["aggregated_output"].endswith("0049999\n")
