"""A sink that keeps every event it is handed, for tests of the bus."""

from __future__ import annotations

from pytest_codex.events import Event


class KeepSink:
    """Appends each event to ``events``; closing releases nothing."""

    name = "keep"

    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass
