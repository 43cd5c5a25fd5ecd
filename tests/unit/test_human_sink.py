"""The terminal sink's style rules and its cost off a terminal (no ticker thread)."""

from __future__ import annotations

import io
import os
import threading

import pytest

from pytest_codex.events import Event
from pytest_codex.sinks.human import HumanSink, TerminalStyle


def _event(kind: str, **payload: object) -> Event:
    return Event(kind, payload, 1, "2026-12-01T00:00:00.000Z", "run")


def test_piped_output_starts_no_thread_and_stays_plain() -> None:
    stream = io.StringIO()
    sink = HumanSink(stream, stages=2, env={})
    before = threading.active_count()
    sink.handle(_event("stage:start", stage={"id": "lint", "title": "ruff"}))
    sink.handle(_event("exec:chunk", data="ok\n"))
    assert threading.active_count() == before
    sink.handle(_event("stage:end", stage={"id": "lint", "status": "failed", "durationMs": 5}))
    sink.close()
    assert stream.getvalue() == "==> [1/2] lint: ruff\nok\n<== [1/2] lint: failed (0.01s)\n"


@pytest.mark.parametrize(
    ("env", "tty", "colour", "live"),
    [
        ({}, False, False, False),
        ({}, True, True, True),
        ({"NO_COLOR": "1"}, True, False, True),
        ({"FORCE_COLOR": "1"}, False, True, False),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False, False),
        ({"FORCE_COLOR": "0"}, False, False, False),
        ({"NO_COLOR": ""}, True, True, True),  # set but empty: no effect (no-color.org)
        ({"TERM": "dumb"}, True, False, False),
    ],
)
def test_the_style_follows_the_terminal_and_no_color_force_color(
    env: dict[str, str], tty: bool, colour: bool, live: bool
) -> None:
    master, slave = os.openpty()
    stream = open(slave, "w", closefd=True) if tty else io.StringIO()  # noqa: SIM115
    try:
        assert TerminalStyle.for_stream(stream, env) == TerminalStyle(colour=colour, live=live)
    finally:
        stream.close()
        os.close(master)
        if not tty:
            os.close(slave)
